// The float GEMM of the CPU backend, written for AVX2 and AVX-512 (GotoBLAS / BLIS layout): B is
// packed in blocks of KC x NC that stay in the core's L2, A in micro-panels of MR rows (or read in
// place when row-major), and a register-blocked micro-kernel computes each MR x NR tile of C with
// all its partial sums in registers, adding a bias as it stores them. Why not Eigen's: on AMD Zen 4
// Eigen's AVX-512 kernel (48 x 4 tiles) runs at about 80 % of its AVX2 one; this one, on AVX-512,
// runs at about the rate of Eigen's AVX2 kernel, and the model's training step and inference 9-15 %
// faster than on Eigen's AVX-512 products.
//
// Determinism: each element of C is summed over k in the same order (KC blocks in turn, k in order
// within a block) whatever the thread count or tile position, so results never depend on threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/parallel.hpp"
#include "scratch.hpp"
#include "simd.hpp"

namespace onenip::kernels::cpu::packed {

// Used where the target has AVX-512; elsewhere products stay on Eigen. With AVX2 only (x86-64-v3)
// Eigen's own kernel measured 6-13 % faster on the model's training step and inference than these
// tiles at 8 lanes, which still compile there but are not chosen.
inline constexpr bool kAvailable = simd::kLanes >= 16;
// Whether products of T run here (float ones, where available).
template <typename T>
inline constexpr bool kUsedFor = kAvailable && std::is_same_v<T, float>;

// Tile: 6 rows x 4 vectors (6 x 64 on AVX-512): 24 accumulators, 4 B vectors and A's broadcast
// in 29 of the 32 registers. Per k it loads 10 values for 24 FMAs, where the earlier 6 x 32 tile
// loaded 8 for 12: on a Xeon with two 512-bit FMA units that tile was bound by its loads (large
// products 25-30 % faster at 6 x 64, the training step 10 %; our reading, without hardware
// counters). Six rows keep six row pointers for an A read in place; twelve rows (12 x 32) need
// twelve, and measured slower on Zen 4. On Zen 4 (one 512-bit FMA unit) 6 x 64 ran as fast as
// 6 x 32 or up to 5 % faster.
inline constexpr int kVectors = 4;
inline constexpr int64_t kNR = kVectors * simd::kLanes;
inline constexpr int64_t kMR = 6;
// Blocks (GotoBLAS's order with A and B's roles swapped, as C is row-major): an MC x KC block of
// A (768 KB) is packed once and stays in L3; a KC x NC block of B (256-512 KB) is packed for it
// and stays in L2; each MR x KC micro-panel of A (6 KB) stays in L1 while the B micro-panels
// stream past it.
inline constexpr int64_t kKC = 256, kNC = 512, kMC = 128 * kMR;
// B's block buffer holds KC x NC floats: NC must be whole micro-panels (a 48-wide tile overran it).
static_assert(kNC % kNR == 0);

using simd::VecF;

// Where a block's A micro-panels are: packed (k-major, MR values per k, panels MR kc apart), or
// A itself read in place when it is row-major (row i at p + i rs, k contiguous): a row-major A
// would otherwise be transposed element by element into the panels, at the product's cost per
// column of C over N columns. A transposed A (a weight gradient's dY^T) holds each k's rows side
// by side, the packed layout at a k pitch of ks: read in place when it has few rows (below).
struct APanels {
  const float* p;
  int64_t rs = 0;  // rows in place, rs apart
  int64_t ks = 0;  // transposed in place: panel ir at p + ir, k pitch ks (neither: packed)
};

// How A (element (i, k) at a[i rs + k cs], M rows) is read. A transposed A is read in place up to
// kTransposedInPlaceRows rows, where the threads split C's columns (gemm) and would each pack all
// of A: the weight gradient dY^T X at M x K x N = 256 x 3136 x 256 and 256 x 4704 x 1024 ran
// 3-9 % faster on Zen 4. With more rows the threads split them and pack their own; reading in
// place there, a 4 KiB k pitch (1024 rows) ran 5 % slower than packing.
enum class AReading { kPacked, kRows, kTransposed };
inline constexpr int64_t kTransposedInPlaceRows = 256;
inline AReading a_reading(int64_t M, int64_t rs, int64_t cs) {
  if (cs == 1 && rs != 0) return AReading::kRows;
  if (rs == 1 && cs != 0 && M <= kTransposedInPlaceRows) return AReading::kTransposed;
  return AReading::kPacked;
}

// C[MR x NR] (= or +=) the product of an A micro-panel (rows in place, a_rs apart; else k-major,
// MR values per k at a k pitch of a_rs) and a packed B micro-panel (k-major, NR per k), over kc;
// when not adding, plus bias[0 : NR] on every row if bias is given. Only the first m rows and n
// columns are written (A's rows past m are not read in place).
template <bool kInPlaceA>
inline void micro_kernel(int64_t kc, const float* ap, int64_t a_rs, const float* bp, float* c, int64_t ldc, bool add,
                         const float* bias, int64_t m, int64_t n) {
  VecF acc[kMR][kVectors];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) acc[i][v] = simd::splat(0.f);
  // C's tile is read at the end: ask for it now, so its misses overlap the products.
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kVectors; ++v) __builtin_prefetch(c + i * ldc + v * simd::kLanes, 1, 3);
  // One k: the tile += A(:, k) B(k, :), A(i, k) given by a_ik(i).
  auto step = [&](auto&& a_ik, const float* b_k) {
    VecF b[kVectors];
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) b[v] = simd::load(b_k + v * simd::kLanes);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const VecF a = simd::splat(a_ik(i));
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) acc[i][v] = simd::fmadd(a, b[v], acc[i][v]);
    }
  };
  if constexpr (kInPlaceA) {
    // Rows past m repeat the last one (their sums are not stored), so A is never read past m.
    const float* row[kMR];
    for (int i = 0; i < kMR; ++i) row[i] = ap + std::min<int64_t>(i, m - 1) * a_rs;
    for (int64_t k = 0; k < kc; ++k, bp += kNR) step([&](int i) { return row[i][k]; }, bp);
  } else {
    for (int64_t k = 0; k < kc; ++k, ap += a_rs, bp += kNR) step([&](int i) { return ap[i]; }, bp);
  }
  const bool with_bias = !add && bias;
  if (m == kMR && n == kNR) {
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < kVectors; ++v) {
        float* p = c + i * ldc + v * simd::kLanes;
        simd::store(p, add         ? simd::load(p) + acc[i][v]
                       : with_bias ? acc[i][v] + simd::load(bias + v * simd::kLanes)
                                   : acc[i][v]);
      }
    return;
  }
  alignas(64) float tile[kMR][kNR];  // an edge tile: through memory, then its valid part
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kVectors; ++v) simd::store(&tile[i][v * simd::kLanes], acc[i][v]);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      c[i * ldc + j] = add ? c[i * ldc + j] + tile[i][j] : with_bias ? tile[i][j] + bias[j] : tile[i][j];
}

// A[m x kc] (element (i, k) at a[i rs + k cs]) into micro-panels of MR rows, k-major, zero-padded.
// Reads run along A's contiguous dimension: along k for a row-major A, along i (across all m rows
// at each k) for a transposed one, whose rows may be a power of two apart.
inline void pack_a(const float* a, int64_t rs, int64_t cs, int64_t m, int64_t kc, float* out) {
  if (m % kMR != 0) std::fill(out + m / kMR * kMR * kc, out + (m + kMR - 1) / kMR * kMR * kc, 0.f);
  if (cs == 1) {
    for (int64_t i = 0; i < m; ++i) {
      float* dst = out + i / kMR * kMR * kc + i % kMR;
      const float* src = a + i * rs;
      for (int64_t k = 0; k < kc; ++k) dst[k * kMR] = src[k];
    }
    return;
  }
  const int64_t full = m / kMR * kMR;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = a + k * cs;
    float* dst = out + k * kMR;
    int64_t i = 0;
    if (rs == 1)
      for (; i < full; i += kMR, dst += kMR * kc) std::memcpy(dst, src + i, kMR * sizeof(float));
    for (; i < m; ++i) out[i / kMR * kMR * kc + k * kMR + i % kMR] = src[i * rs];
  }
}

// B[kc x n] (element (k, j) at b[k rs + j cs]) into micro-panels of NR columns, k-major,
// zero-padded.
inline void pack_b(const float* b, int64_t rs, int64_t cs, int64_t kc, int64_t n, float* out) {
  for (int64_t j0 = 0; j0 < n; j0 += kNR, out += kNR * kc) {
    const int64_t cols = std::min(kNR, n - j0);
    if (cs == 1) {
      for (int64_t k = 0; k < kc; ++k) {
        float* dst = out + k * kNR;
        std::memcpy(dst, b + k * rs + j0, size_t(cols) * sizeof(float));
        std::fill(dst + cols, dst + kNR, 0.f);
      }
    } else {
      // Transposed B (a layer's W^T): square blocks of kLanes columns by kLanes k transposed in
      // registers, so every load and store is a whole vector; the edges element by element, in
      // runs of 64 k per column so that the panel's lines being written stay in L1.
      if (cols < kNR) std::fill(out, out + kNR * kc, 0.f);
      const int64_t L = simd::kLanes, vec_cols = rs == 1 ? cols / L * L : 0, vec_k = rs == 1 ? kc / L * L : 0;
      for (int64_t j = 0; j < vec_cols; j += L)
        for (int64_t k = 0; k < vec_k; k += L) simd::transpose_block(b + (j0 + j) * cs + k, cs, out + k * kNR + j, kNR);
      for (int64_t k0 = 0; k0 < kc; k0 += 64)
        for (int64_t j = 0; j < cols; ++j) {
          const float* src = b + (j0 + j) * cs;
          for (int64_t k = std::max(k0, j < vec_cols ? vec_k : 0); k < std::min(kc, k0 + 64); ++k) out[k * kNR + j] = src[k * rs];
        }
    }
  }
}

// C[M x N] (ldc) (= or +=) A B (+ bias[0 : N] on every row, given when not accumulating) on the
// calling thread, in blocks of at most mc_max rows; a_block(ic, pc, mc, kc) gives A's block
// (ic, pc) (packed into a buffer, or in place).
template <typename ABlock>
void gemm_blocks(int64_t M, int64_t N, int64_t K, int64_t mc_max, ABlock&& a_block, const float* b, int64_t b_rs,
                 int64_t b_cs, float* c, int64_t ldc, bool accumulate, const float* bias) {
  if (M <= 0 || N <= 0) return;  // (and no row blocks to size)
  thread_local Scratch<float> b_buf, edge_buf;
  b_buf.resize(size_t(kKC * kNC));
  // Blocks of equal size: a short last one would repack all of B for a few rows.
  const int64_t row_blocks = (M + mc_max - 1) / mc_max;
  const int64_t mc_even = ((M + row_blocks - 1) / row_blocks + kMR - 1) / kMR * kMR;
  for (int64_t ic = 0; ic < M; ic += mc_even) {
    const int64_t mc = std::min(mc_even, M - ic);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const bool add = accumulate || pc > 0;
      const APanels a = a_block(ic, pc, mc, kc);
      // A transposed A's last rows (fewer than MR): packed, once per block, so that nothing past
      // them is read.
      const int64_t full_rows = mc / kMR * kMR;
      if (a.ks != 0 && full_rows < mc) {
        edge_buf.resize(size_t(kMR * kKC));
        pack_a(a.p + full_rows, 1, a.ks, mc - full_rows, kc, edge_buf.data());
      }
      for (int64_t jc = 0; jc < N; jc += kNC) {
        const int64_t nc = std::min(kNC, N - jc);
        pack_b(b + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, b_buf.data());
        for (int64_t ir = 0; ir < mc; ir += kMR)
          for (int64_t jr = 0; jr < nc; jr += kNR) {
            float* tile = c + (ic + ir) * ldc + jc + jr;
            const float* bp = b_buf.data() + jr * kc;
            const float* bias_j = bias ? bias + jc + jr : nullptr;
            const int64_t m = std::min(kMR, mc - ir), n = std::min(kNR, nc - jr);
            if (a.rs != 0) {
              micro_kernel<true>(kc, a.p + ir * a.rs, a.rs, bp, tile, ldc, add, bias_j, m, n);
            } else if (a.ks == 0) {
              micro_kernel<false>(kc, a.p + ir * kc, kMR, bp, tile, ldc, add, bias_j, m, n);
            } else if (m == kMR) {
              micro_kernel<false>(kc, a.p + ir, a.ks, bp, tile, ldc, add, bias_j, m, n);
            } else {
              micro_kernel<false>(kc, edge_buf.data(), kMR, bp, tile, ldc, add, bias_j, m, n);
            }
          }
      }
    }
  }
}

// Rows per block when A is read in place: nothing of A is copied, so blocks can be larger (fewer
// packings of B), up to what stays in a share of L3 (3072 rows of 256 k: 3 MB).
inline constexpr int64_t kMCInPlace = 4 * kMC;

// C[M x N] (ldc) (= or +=) A[M x K] B[K x N] (+ bias) on the calling thread, A read as `reading`
// says (a_reading of the whole product's A), packed block by block when not in place.
inline void gemm_serial(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                        int64_t b_rs, int64_t b_cs, float* c, int64_t ldc, bool accumulate, const float* bias,
                        AReading reading) {
  if (reading != AReading::kPacked) {
    const bool rows = reading == AReading::kRows;  // else transposed: a k pitch of a_cs
    auto in_place = [&](int64_t ic, int64_t pc, int64_t, int64_t) {
      return APanels{a + ic * a_rs + pc * a_cs, rows ? a_rs : 0, rows ? 0 : a_cs};
    };
    return gemm_blocks(M, N, K, kMCInPlace, in_place, b, b_rs, b_cs, c, ldc, accumulate, bias);
  }
  thread_local Scratch<float> a_buf;
  a_buf.resize(size_t(((std::min(kMC, M) + kMR - 1) / kMR * kMR) * kKC));
  auto pack = [&](int64_t ic, int64_t pc, int64_t mc, int64_t kc) {
    pack_a(a + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, a_buf.data());
    return APanels{a_buf.data()};
  };
  gemm_blocks(M, N, K, kMC, pack, b, b_rs, b_cs, c, ldc, accumulate, bias);
}

// A packed once, whole, for products that reuse it: a layer's weights across column blocks and
// images. Each KC block holds every row's micro-panels, so any block of it is a slice.
class PackedA {
 public:
  PackedA(const float* a, int64_t rs, int64_t cs, int64_t M, int64_t K)
      : M_(M), K_(K), rows_((M + kMR - 1) / kMR * kMR), data_(size_t(rows_ * K)) {
    for (int64_t pc = 0; pc < K; pc += kKC) pack_a(a + pc * cs, rs, cs, M, std::min(kKC, K - pc), data_.data() + pc * rows_);
  }
  int64_t rows() const { return M_; }
  int64_t depth() const { return K_; }
  // Block (ic, pc): ic a multiple of MR, pc of KC.
  const float* block(int64_t ic, int64_t pc, int64_t kc) const { return data_.data() + pc * rows_ + ic * kc; }

 private:
  int64_t M_, K_, rows_;
  Scratch<float> data_;
};

// C[M x N] (ldc) (= or +=) A B with A packed beforehand, on the calling thread.
inline void gemm_serial(const PackedA& a, int64_t N, const float* b, int64_t b_rs, int64_t b_cs, float* c, int64_t ldc,
                        bool accumulate) {
  auto slice = [&](int64_t ic, int64_t pc, int64_t, int64_t kc) { return APanels{a.block(ic, pc, kc)}; };
  gemm_blocks(a.rows(), N, a.depth(), kMC, slice, b, b_rs, b_cs, c, ldc, accumulate, nullptr);
}

// The same over the threads (single-threaded inside a parallel region): each thread takes an equal
// share of whole tiles of rows, or of columns when there are too few rows, and runs its share on
// its own, packing into its own buffers (its L2), with no barrier.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                 int64_t b_rs, int64_t b_cs, float* c, int64_t ldc, bool accumulate, const float* bias = nullptr) {
  const int64_t row_tiles = (M + kMR - 1) / kMR, col_tiles = (N + kNR - 1) / kNR;
  const bool worth_threads = M * N * K >= (int64_t(1) << 18);
  const int64_t threads = worth_threads ? num_threads() : 1;
  // A few rows of an A read in place (one image's tokens): split the columns, so that each thread
  // packs only its share of B instead of all of it for its few rows (batch-1 inference 1-3 % faster).
  const AReading reading = a_reading(M, a_rs, a_cs);
  const bool few_rows_in_place = reading != AReading::kPacked && M <= 256 && col_tiles >= 2 * threads;
  const bool split_rows = !few_rows_in_place && (row_tiles >= 4 * threads || row_tiles >= col_tiles);
  const int64_t tiles = split_rows ? row_tiles : col_tiles, parts = std::min(threads, tiles);
  parallel_for(parts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = tiles * t / parts, last = tiles * (t + 1) / parts;
      if (split_rows) {
        const int64_t r0 = first * kMR, r1 = std::min(M, last * kMR);
        gemm_serial(r1 - r0, N, K, a + r0 * a_rs, a_rs, a_cs, b, b_rs, b_cs, c + r0 * ldc, ldc, accumulate, bias,
                    reading);
      } else {
        const int64_t c0 = first * kNR, c1 = std::min(N, last * kNR);
        gemm_serial(M, c1 - c0, K, a, a_rs, a_cs, b + c0 * b_cs, b_rs, b_cs, c + c0, ldc, accumulate,
                    bias ? bias + c0 : nullptr, reading);
      }
    }
  });
}

}  // namespace onenip::kernels::cpu::packed

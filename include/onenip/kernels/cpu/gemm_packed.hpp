// The float GEMM of the CPU backend, written for AVX2 and AVX-512 (GotoBLAS / BLIS layout): B is
// packed in blocks of KC x NC that stay in the core's L2, A in micro-panels of MR rows, and a
// register-blocked micro-kernel computes each MR x NR tile of C with all its partial sums in
// registers. Why not Eigen's: on AMD Zen 4 Eigen's AVX-512 kernel (48 x 4 tiles) runs at about 80 %
// of its AVX2 one; this one, on AVX-512, runs at about the rate of Eigen's AVX2 kernel, and the
// model's training step and inference 9-15 % faster than on Eigen's AVX-512 products.
//
// Determinism: each element of C is summed over k in the same order (KC blocks in turn, k in order
// within a block) whatever the thread count or tile position, so results never depend on threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../core/parallel.hpp"
#include "scratch.hpp"
#include "simd.hpp"

namespace onenip::kernels::cpu::packed {

// Used where the target has AVX-512; elsewhere products stay on Eigen. With AVX2 only (x86-64-v3)
// Eigen's own kernel measured 6-13 % faster on the model's training step and inference than these
// tiles at 8 lanes, which still compile there but are not chosen.
inline constexpr bool kAvailable = simd::kLanes >= 16;

// Tile: 6 rows x 2 vectors (6 x 32 on AVX-512, 6 x 16 on AVX2): 12 accumulators, enough to hide
// the FMA latency on two FMA pipes; larger tiles (12 x 32) measured slower on Zen 4.
inline constexpr int kVectors = 2;
inline constexpr int64_t kNR = kVectors * simd::kLanes;
inline constexpr int64_t kMR = 6;
// Blocks (GotoBLAS's order with A and B's roles swapped, as C is row-major): an MC x KC block of
// A (768 KB) is packed once and stays in L3; a KC x NC block of B (256-512 KB) is packed for it
// and stays in L2; each MR x KC micro-panel of A (6 KB) stays in L1 while the B micro-panels
// stream past it.
inline constexpr int64_t kKC = 256, kNC = 512, kMC = 128 * kMR;

using simd::VecF;

// C[MR x NR] (= or +=) the product of a packed A micro-panel (k-major, MR per k) and a packed B
// micro-panel (k-major, NR per k), over kc. Only the first m rows and n columns are written.
inline void micro_kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool add, int64_t m,
                         int64_t n) {
  VecF acc[kMR][kVectors];
#pragma GCC unroll 6
  for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) acc[i][v] = simd::splat(0.f);
  // C's tile is read at the end: ask for it now, so its misses overlap the products.
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kVectors; ++v) __builtin_prefetch(c + i * ldc + v * simd::kLanes, 1, 3);
  for (int64_t k = 0; k < kc; ++k, ap += kMR, bp += kNR) {
    VecF b[kVectors];
#pragma GCC unroll 2
    for (int v = 0; v < kVectors; ++v) b[v] = simd::load(bp + v * simd::kLanes);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const VecF a = simd::splat(ap[i]);
#pragma GCC unroll 2
      for (int v = 0; v < kVectors; ++v) acc[i][v] = simd::fmadd(a, b[v], acc[i][v]);
    }
  }
  if (m == kMR && n == kNR) {
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i)
#pragma GCC unroll 2
      for (int v = 0; v < kVectors; ++v) {
        float* p = c + i * ldc + v * simd::kLanes;
        simd::store(p, add ? simd::load(p) + acc[i][v] : acc[i][v]);
      }
    return;
  }
  alignas(64) float tile[kMR][kNR];  // an edge tile: through memory, then its valid part
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < kVectors; ++v) simd::store(&tile[i][v * simd::kLanes], acc[i][v]);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i][j] : tile[i][j];
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
      // Transposed B: runs of 64 k per column, so the panel's lines being written stay in L1.
      if (cols < kNR) std::fill(out, out + kNR * kc, 0.f);
      for (int64_t k0 = 0; k0 < kc; k0 += 64)
        for (int64_t j = 0; j < cols; ++j) {
          const float* src = b + (j0 + j) * cs;
          for (int64_t k = k0; k < std::min(kc, k0 + 64); ++k) out[k * kNR + j] = src[k * rs];
        }
    }
  }
}

// C[M x N] (ldc) (= or +=) A B on the calling thread, A's block (ic, pc) (mc x kc, packed) given
// by a_block(ic, pc, mc, kc, buffer).
template <typename ABlock>
void gemm_blocks(int64_t M, int64_t N, int64_t K, ABlock&& a_block, const float* b, int64_t b_rs, int64_t b_cs,
                 float* c, int64_t ldc, bool accumulate) {
  thread_local Scratch<float> a_buf, b_buf;
  a_buf.resize(size_t(((std::min(kMC, M) + kMR - 1) / kMR * kMR) * kKC));
  b_buf.resize(size_t(kKC * kNC));
  for (int64_t ic = 0; ic < M; ic += kMC) {
    const int64_t mc = std::min(kMC, M - ic);
    for (int64_t pc = 0; pc < K; pc += kKC) {
      const int64_t kc = std::min(kKC, K - pc);
      const bool add = accumulate || pc > 0;
      const float* ap = a_block(ic, pc, mc, kc, a_buf.data());
      for (int64_t jc = 0; jc < N; jc += kNC) {
        const int64_t nc = std::min(kNC, N - jc);
        pack_b(b + pc * b_rs + jc * b_cs, b_rs, b_cs, kc, nc, b_buf.data());
        for (int64_t ir = 0; ir < mc; ir += kMR)
          for (int64_t jr = 0; jr < nc; jr += kNR)
            micro_kernel(kc, ap + ir * kc, b_buf.data() + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, add,
                         std::min(kMR, mc - ir), std::min(kNR, nc - jr));
      }
    }
  }
}

// C[M x N] (ldc) (= or +=) A[M x K] B[K x N] on the calling thread.
inline void gemm_serial(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                        int64_t b_rs, int64_t b_cs, float* c, int64_t ldc, bool accumulate) {
  auto pack = [&](int64_t ic, int64_t pc, int64_t mc, int64_t kc, float* buf) {
    pack_a(a + ic * a_rs + pc * a_cs, a_rs, a_cs, mc, kc, buf);
    return static_cast<const float*>(buf);
  };
  gemm_blocks(M, N, K, pack, b, b_rs, b_cs, c, ldc, accumulate);
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
  auto slice = [&](int64_t ic, int64_t pc, int64_t, int64_t kc, float*) { return a.block(ic, pc, kc); };
  gemm_blocks(a.rows(), N, a.depth(), slice, b, b_rs, b_cs, c, ldc, accumulate);
}

// The same over the threads (single-threaded inside a parallel region): each thread takes an equal
// share of whole tiles of rows, or of columns when there are too few rows, and runs its share on
// its own, packing into its own buffers (its L2), with no barrier.
inline void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                 int64_t b_rs, int64_t b_cs, float* c, int64_t ldc, bool accumulate) {
  const int64_t row_tiles = (M + kMR - 1) / kMR, col_tiles = (N + kNR - 1) / kNR;
  const bool worth_threads = M * N * K >= (int64_t(1) << 18);
  const int64_t threads = worth_threads ? num_threads() : 1;
  const bool split_rows = row_tiles >= 4 * threads || row_tiles >= col_tiles;
  const int64_t tiles = split_rows ? row_tiles : col_tiles;
  parallel_for(std::min(threads, tiles), 1, [&](int64_t t0, int64_t t1) {
    const int64_t parts = std::min(threads, tiles);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t first = tiles * t / parts, last = tiles * (t + 1) / parts;
      if (split_rows) {
        const int64_t r0 = first * kMR, r1 = std::min(M, last * kMR);
        gemm_serial(r1 - r0, N, K, a + r0 * a_rs, a_rs, a_cs, b, b_rs, b_cs, c + r0 * ldc, ldc, accumulate);
      } else {
        const int64_t c0 = first * kNR, c1 = std::min(N, last * kNR);
        gemm_serial(M, c1 - c0, K, a, a_rs, a_cs, b + c0 * b_cs, b_rs, b_cs, c + c0, ldc, accumulate);
      }
    }
  });
}

}  // namespace onenip::kernels::cpu::packed

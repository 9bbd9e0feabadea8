// The float fused attention at head dims 32, 64 and 128, with the queries in the vector lanes.
//
// Every tile is kept transposed, [keys][kQueries queries], so that the softmax's row statistics
// (max, sum) are plain element-wise vector operations, and every product is one register-blocked
// micro-kernel (`product`) that broadcasts one operand and reads the other as vectors. K, V, Q
// and dO are read in place; only Q^T and dO^T are packed, once per work item (not per tile; in
// the backward, once per thread for all the key groups of a (b, h) it takes), and O^T / dQ^T
// transposed back once at the item's end.
//   forward, per (b, h, block of kQueries queries), over key blocks:
//     S^T = K (scale Q)^T + mask^T, m = max(m, colmax S^T), P^T = exp(S^T - m) (one pass, sum
//     accumulated), l = l corr + sum, O^T = O^T corr + V^T P^T
//   backward, per (b, h, key group), over key blocks, then query blocks:
//     P^T = exp(S^T - lse), dP^T = V dO^T, dV += Pd^T dO, dS^T = P^T (dP^T - rowsum(dO O)),
//     dQ^T += K^T dS^T, dK += dS^T Q (scale applied to dQ and dK at the end)
// The max is taken, and dS formed, as the products that make S^T and dP^T store them.
// Accumulation orders depend on the problem only, never on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "../../core/parallel.hpp"
#include "random.hpp"
#include "scratch.hpp"
#include "simd.hpp"

namespace onenip::kernels::cpu::lanes {

using simd::kLanes;
using simd::VecF;

// Queries per block, the tiles' row width: 4 vectors with 32 registers (AVX-512: 64 queries,
// the 6 x 64 register tile that loads 10 values per 24 FMAs), else 32 queries.
inline constexpr int kQueries = simd::kRegisters >= 32 ? 4 * kLanes : 32;
inline constexpr int kQueryVecs = kQueries / kLanes;    // vectors per tile row
static_assert(kQueryVecs % 4 == 0);

// Calls f(std::integral_constant<int, NV>{}) with the fewest vectors of lanes, a quarter, half
// or all of a block, that hold `rows` queries: a short last block (T = 196 ends with 4 queries)
// does not pay for a whole one.
template <typename F>
inline void with_query_vecs(int64_t rows, F&& f) {
  if (rows <= kQueries / 4) f(std::integral_constant<int, kQueryVecs / 4>{});
  else if (rows <= kQueries / 2) f(std::integral_constant<int, kQueryVecs / 2>{});
  else f(std::integral_constant<int, kQueryVecs>{});
}
inline constexpr int64_t kKeys = 128, kKeysBackward = 64;  // keys per tile (the tiles stay in L1)

inline bool supported(const AttentionProblem<float>& P) {
  auto dim = [](int64_t d) { return d == 32 || d == 64 || d == 128; };
  return dim(P.D) && dim(P.Dv);
}

// Register blocking of `product`: column chunks of up to 4 (AVX-512) or 2 vectors, and as many
// output rows as leave registers for one row of B and the broadcast.
constexpr int chunk_vecs(int vecs) { return std::min(vecs, simd::kRegisters >= 32 ? 4 : 2); }
constexpr int block_rows(int vecs) { return std::clamp((simd::kRegisters - vecs - 2) / vecs, 1, 8); }

// What `product` stores: the sum itself (Accumulate: added to out), or epilogue(row, vector,
// sum), row and vector (of kLanes columns) counted from the product's origin: the consumer of a
// tile is fused into the store that makes it.
struct Identity {
  VecF operator()(int64_t, int, VecF x) const { return x; }
};

// out[r][0 : NX vectors] (+)= sum_{k < n} a[r ar + k ak] b[k ldb + (0 : NX vectors)], r < R.
template <int R, int NX, bool Accumulate, typename Epilogue>
inline void product_block(const float* a, int64_t ar, int64_t ak, const float* b, int64_t ldb, int64_t n, float* out,
                          int64_t ldo, int64_t row0, int vec0, Epilogue& epilogue) {
  VecF acc[R][NX];
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NX; ++c) acc[r][c] = Accumulate ? simd::load(out + r * ldo + c * kLanes) : VecF{};
  for (int64_t k = 0; k < n; ++k) {
    VecF row[NX];
    for (int c = 0; c < NX; ++c) row[c] = simd::load(b + k * ldb + c * kLanes);
    const float* col = a + k * ak;
    for (int r = 0; r < R; ++r) {
      const VecF x = simd::splat(col[r * ar]);
      for (int c = 0; c < NX; ++c) acc[r][c] = simd::fmadd(x, row[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int c = 0; c < NX; ++c) simd::store(out + r * ldo + c * kLanes, epilogue(row0 + r, vec0 + c, acc[r][c]));
}

// out [rows, X] (+)= A [rows, n] B [n, X] with A(r, k) = a[r ar + k ak] (either stride may be
// the unit one: A read in place or transposed), B and out row-major with pitches ldb, ldo.
// Each element is one fixed-order sum over k, whatever the blocking.
template <int X, bool Accumulate, typename Epilogue = Identity>
void product(const float* a, int64_t ar, int64_t ak, const float* b, int64_t ldb, int64_t n, float* out, int64_t ldo,
             int64_t rows, Epilogue epilogue = {}) {
  static_assert(X % kLanes == 0);
  constexpr int NX = X / kLanes, CX = chunk_vecs(NX), R = block_rows(CX);
  static_assert(NX % CX == 0);
  for (int c0 = 0; c0 < NX; c0 += CX) {
    const float* bc = b + c0 * kLanes;
    float* oc = out + c0 * kLanes;
    int64_t r = 0;
    for (; r + R <= rows; r += R)
      product_block<R, CX, Accumulate>(a + r * ar, ar, ak, bc, ldb, n, oc + r * ldo, ldo, r, c0, epilogue);
    for (; r < rows; ++r)
      product_block<1, CX, Accumulate>(a + r * ar, ar, ak, bc, ldb, n, oc + r * ldo, ldo, r, c0, epilogue);
  }
}

// `product` with X = the head dim (32, 64 or 128), a runtime choice of X and of Accumulate.
template <int X>
inline void product_acc(bool accumulate, const float* a, int64_t ar, int64_t ak, const float* b, int64_t ldb, int64_t n,
                        float* out, int64_t ldo, int64_t rows) {
  if (accumulate) product<X, true>(a, ar, ak, b, ldb, n, out, ldo, rows);
  else product<X, false>(a, ar, ak, b, ldb, n, out, ldo, rows);
}
inline void product_head(int64_t X, bool accumulate, const float* a, int64_t ar, int64_t ak, const float* b,
                         int64_t ldb, int64_t n, float* out, int64_t ldo, int64_t rows) {
  if (X == 32) product_acc<32>(accumulate, a, ar, ak, b, ldb, n, out, ldo, rows);
  else if (X == 64) product_acc<64>(accumulate, a, ar, ak, b, ldb, n, out, ldo, rows);
  else product_acc<128>(accumulate, a, ar, ak, b, ldb, n, out, ldo, rows);
}

// dst[d][l] = scale src[l, d] for l < rows (row pitch ld), 0 for rows <= l < kQueries; d < cols.
// Whole kLanes x kLanes blocks are transposed in registers, the edges element by element.
inline void pack_transposed(const float* src, int64_t ld, int64_t rows, int64_t cols, float scale, float* dst) {
  const int64_t vec_rows = rows / kLanes * kLanes, vec_cols = cols / kLanes * kLanes;
  for (int64_t l = 0; l < vec_rows; l += kLanes)
    for (int64_t d = 0; d < vec_cols; d += kLanes) simd::transpose_block(src + l * ld + d, ld, dst + d * kQueries + l, kQueries);
  for (int64_t d = 0; d < cols; ++d) {
    float* o = dst + d * kQueries;
    for (int64_t l = d < vec_cols ? vec_rows : 0; l < rows; ++l) o[l] = src[l * ld + d];
    std::fill(o + rows, o + kQueries, 0.f);
  }
  if (scale != 1.f)
    for (int64_t e = 0; e < cols * kQueries; e += kLanes) simd::store(dst + e, simd::load(dst + e) * scale);
}

// The inverse: dst[l ld + d] = row_scale(l) src[d kQueries + l] for l < rows, d < cols.
template <typename RowScale>
inline void unpack_transposed(const float* src, int64_t rows, int64_t cols, float* dst, int64_t ld, RowScale row_scale) {
  const bool whole = rows == kQueries && cols % kLanes == 0;  // transposed in registers, then scaled
  if (whole)
    for (int64_t l = 0; l < rows; l += kLanes)
      for (int64_t d = 0; d < cols; d += kLanes) simd::transpose_block(src + d * kQueries + l, kQueries, dst + l * ld + d, ld);
  for (int64_t l = 0; l < rows; ++l) {
    float* o = dst + l * ld;
    const float f = row_scale(l);
    if (whole)
      for (int64_t d = 0; d < cols; d += kLanes) simd::store(o + d, simd::load(o + d) * f);
    else
      for (int64_t d = 0; d < cols; ++d) o[d] = f * src[d * kQueries + l];
  }
}

// The mask as the tiles read it: element (query i0 + l, key j0 + jj) at p[jj pitch + l].
struct MaskTile {
  const float* p = nullptr;
  int64_t pitch = 0;
};

// The mask transposed: mask[b, h, i0 + l, j0 + jj] into dst[jj pitch + l], l < rows (0 up to pitch).
inline void transpose_mask(const AttentionProblem<float>& P, int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t j0,
                           int64_t cols, float* dst, int64_t pitch) {
  const float* base = P.mask + b * P.mb + h * P.mh + i0 * P.mi + j0 * P.mj;
  for (int64_t jj = 0; jj < cols; ++jj) {
    float* d = dst + jj * pitch;
    for (int64_t l = 0; l < rows; ++l) d[l] = base[l * P.mi + jj * P.mj];
    std::fill(d + rows, d + pitch, 0.f);
  }
}

// A mask shared by every (batch, head) (the model's) is transposed once per call; any other,
// tile by tile. Transposed copies beyond 2^22 elements are not kept. The shared copy's rows are
// one vector longer than the padded queries: at T = 196 with 64-query blocks a pitch of 256
// floats (1 KiB) put a tile's 128 key rows in a quarter of the L1's sets, and the forward ran
// 7 % slower on Zen 4 (32 KiB L1) than with the extra vector.
class TransposedMask {
 public:
  TransposedMask(const AttentionProblem<float>& P, int64_t Tq_padded) : P_(P), pitch_(Tq_padded + kLanes) {
    if (P.mask && P.mb == 0 && P.mh == 0 && P.Tk * pitch_ <= (int64_t(1) << 22)) {
      shared_.resize(static_cast<size_t>(P.Tk * pitch_));
      transpose_mask(P, 0, 0, 0, P.Tq, 0, P.Tk, shared_.data(), pitch_);
    }
  }
  // The tile of queries i0 + [0, rows), keys j0 + [0, cols); buf holds cols * kQueries floats.
  MaskTile tile(int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t j0, int64_t cols, float* buf) const {
    if (!P_.mask) return {};
    if (!shared_.empty()) return {shared_.data() + j0 * pitch_ + i0, pitch_};
    transpose_mask(P_, b, h, i0, rows, j0, cols, buf, kQueries);
    return {buf, kQueries};
  }

 private:
  const AttentionProblem<float>& P_;
  int64_t pitch_;
  Scratch<float> shared_;
};

// The dropout factors of a tile, transposed: ft[jj kQueries + l] for query i0 + l, key j0 + jj
// (0 past rows); factors: rows x cols floats of scratch (the tile's rows share the Philox vectors).
inline void dropout_tile(const AttentionProblem<float>& P, int64_t bh, int64_t i0, int64_t rows, int64_t j0,
                         int64_t cols, float* factors, float* ft) {
  dropout_factor_rows(*P.drop, (bh * P.Tq + i0) * P.Tk + j0, P.Tk, rows, cols, P.drop_scale, factors);
  pack_transposed(factors, cols, rows, cols, 1.f, ft);
}

// S^T [cols][kQueries] = K rows j0.. times the packed (scaled) Q^T, plus the mask tile, each
// element passed through then(key, vector, s) on its way to st; the first NV vectors of each row.
template <int NV, typename Then>
inline void scores(const AttentionProblem<float>& P, const float* k, const float* qt, const MaskTile& mask, int64_t cols,
                   float* st, Then then) {
  auto masked = [&](int64_t jj, int c, VecF x) {
    return then(jj, c, x + simd::load(mask.p + jj * mask.pitch + c * kLanes));
  };
  if (mask.p) product<NV * kLanes, false>(k, P.k.st, 1, qt, kQueries, P.D, st, kQueries, cols, masked);
  else product<NV * kLanes, false>(k, P.k.st, 1, qt, kQueries, P.D, st, kQueries, cols, then);
}

// Per-thread scratch of the forward.
struct ForwardScratch {
  Scratch<float> qt, st, ot, mask, ft, factors;
  explicit ForwardScratch(const AttentionProblem<float>& P)
      : qt(size_t(P.D * kQueries)), st(size_t(kKeys * kQueries)), ot(size_t(P.Dv * kQueries)),
        mask(size_t(kKeys * kQueries)), ft(P.drop ? size_t(kKeys * kQueries) : 0),
        factors(P.drop ? size_t(kKeys * kQueries) : 0) {}
};

// One (batch, head, query block): out rows i0.. and their lse, on the first NV vectors of lanes
// (with_query_vecs: at T = 196 the last block holds 4 queries, and the forward ran 9 % faster on
// 16 lanes than on 32).
template <int NV>
void forward_block(const AttentionProblem<float>& P, const TransposedMask& mask, int64_t bh, int64_t i0,
                          ForwardScratch& s) {
  const int64_t b = bh / P.H, h = bh % P.H, rows = std::min<int64_t>(kQueries, P.Tq - i0);
  const float inf = std::numeric_limits<float>::infinity();
  pack_transposed(P.q.at(b, h, i0), P.q.st, rows, P.D, P.scale, s.qt.data());
  std::fill(s.ot.begin(), s.ot.end(), 0.f);
  VecF m[NV], l[NV];
  for (int c = 0; c < NV; ++c) m[c] = simd::splat(-inf), l[c] = VecF{};
  float* st = s.st.data();
  for (int64_t j0 = 0; j0 < P.Tk; j0 += kKeys) {
    const int64_t cols = std::min(kKeys, P.Tk - j0);
    // Online softmax per lane: weights relative to the running max (0 while every key so far
    // is masked), earlier ones rescaled by corr (0 when there were none).
    VecF shift[NV], corr[NV], sum[NV];
    for (int c = 0; c < NV; ++c) shift[c] = m[c], sum[c] = VecF{};
    scores<NV>(P, P.k.at(b, h, j0), s.qt.data(), mask.tile(b, h, i0, rows, j0, cols, s.mask.data()), cols, st,
           [&](int64_t, int c, VecF x) { return shift[c] = simd::max(shift[c], x), x; });
    for (int c = 0; c < NV; ++c) {
      const VecF m_new = shift[c];
      shift[c] = m_new == -inf ? VecF{} : m_new;
      corr[c] = simd::exp_nonpositive(m[c] - shift[c]);
      m[c] = m_new;
    }
    for (int64_t jj = 0; jj < cols; ++jj)
      for (int c = 0; c < NV; ++c) {
        float* x = st + jj * kQueries + c * kLanes;
        const VecF p = simd::exp_nonpositive(simd::load(x) - shift[c]);
        simd::store(x, p);
        sum[c] += p;
      }
    for (int c = 0; c < NV; ++c) l[c] = simd::fmadd(l[c], corr[c], sum[c]);
    if (P.drop) {  // l keeps the undropped weights
      dropout_tile(P, bh, i0, rows, j0, cols, s.factors.data(), s.ft.data());
      for (int64_t jj = 0; jj < cols; ++jj)
        for (int c = 0; c < NV; ++c) {
          const int64_t e = jj * kQueries + c * kLanes;
          simd::store(st + e, simd::load(st + e) * simd::load(s.ft.data() + e));
        }
    }
    for (int64_t x = 0; x < P.Dv; ++x)
      for (int c = 0; c < NV; ++c) {
        float* o = s.ot.data() + x * kQueries + c * kLanes;
        simd::store(o, simd::load(o) * corr[c]);
      }
    // O^T [Dv][kQueries] += V^T P^T: V read in place, transposed (A(x, jj) = v[jj st + x]).
    product<NV * kLanes, true>(P.v.at(b, h, j0), 1, P.v.st, st, kQueries, cols, s.ot.data(), kQueries, P.Dv);
  }
  float ms[kQueries], ls[kQueries];
  for (int c = 0; c < NV; ++c) simd::store(ms + c * kLanes, m[c]), simd::store(ls + c * kLanes, l[c]);
  unpack_transposed(s.ot.data(), rows, P.Dv, P.out.at(b, h, i0), P.out.st,
                    [&](int64_t r) { return ls[r] > 0.f ? 1.f / ls[r] : 0.f; });  // ls = 0: every key masked
  for (int64_t r = 0; r < rows; ++r) P.lse[bh * P.Tq + i0 + r] = ls[r] > 0.f ? ms[r] + std::log(ls[r]) : inf;
}

inline void attention(const AttentionProblem<float>& P) {
  const int64_t nq = (P.Tq + kQueries - 1) / kQueries;
  const TransposedMask mask(P, nq * kQueries);
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(kQueries * P.Tk * (P.D + P.Dv), 1));
  parallel_for(P.B * P.H * nq, grain, [&](int64_t w0, int64_t w1) {
    ForwardScratch s(P);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t i0 = (w % nq) * kQueries;
      with_query_vecs(P.Tq - i0, [&](auto nv) { forward_block<nv()>(P, mask, w / nq, i0, s); });
    }
  });
}

// The backward's key blocks: as many as whole blocks of kKeysBackward keys fit (at least one),
// of equal size rounded up to 8 keys (the products' row blocks), so that no block is a sliver:
// T = 196 gives 72, 72, 52 rather than 64, 64, 64, 4. Sizes are at most 2 kKeysBackward.
struct KeyBlocks {
  int64_t count, size;
  explicit KeyBlocks(int64_t Tk) {
    const int64_t n = std::max<int64_t>(1, Tk / kKeysBackward);
    size = std::max<int64_t>(8, ((Tk + n - 1) / n + 7) / 8 * 8);
    count = (Tk + size - 1) / size;
  }
};

// Per-thread scratch of the backward: Q^T, dO^T and dQ^T of all of (b, h)'s queries, lse and
// rowsum(dO O) padded to whole query blocks, and the tiles.
struct BackwardScratch {
  int64_t nq, key_block;  // query blocks; keys per key block (KeyBlocks)
  size_t tile;            // floats of one tile: key_block x kQueries
  int64_t packed_bh = -1;  // whose Q^T, dO^T, lse and drow are in qt, dot, lse, drow
  PooledScratch<float> qt, dot, dqt;
  Scratch<float> lse, drow, st, dpt, pdt, mask, ft, factors;
  explicit BackwardScratch(const AttentionProblem<float>& P)
      : nq((P.Tq + kQueries - 1) / kQueries), key_block(KeyBlocks(P.Tk).size), tile(size_t(key_block * kQueries)),
        qt(size_t(nq * kQueries * P.D)), dot(size_t(nq * kQueries * P.Dv)), dqt(size_t(nq * kQueries * P.D)),
        lse(size_t(nq * kQueries)), drow(size_t(nq * kQueries)), st(tile), dpt(tile), pdt(P.drop ? tile : 0),
        mask(tile), ft(P.drop ? tile : 0), factors(P.drop ? tile : 0) {}
};

// Keys [j0, j0 + cols) of (b, h) against queries [i0, i0 + rows): dk, dv rows j0.. and the
// block's dQ^T accumulated, or stored by the first query block (dk, dv) and the first key block
// (dQ^T) instead of zeroing them beforehand; the first NV vectors of lanes (with_query_vecs, as
// in the forward).
template <int NV>
void backward_tile(const AttentionProblem<float>& P, const TransposedMask& mask, int64_t bh, int64_t i0, int64_t rows,
                   int64_t j0, int64_t cols, bool first_keys, float* dk, float* dv, BackwardScratch& s) {
  const int64_t b = bh / P.H, h = bh % P.H;
  const float* k = P.k.at(b, h, j0);
  const float* v = P.v.at(b, h, j0);
  float *st = s.st.data(), *dpt = s.dpt.data();
  VecF lse[NV], drow[NV];
  for (int c = 0; c < NV; ++c)
    lse[c] = simd::load(s.lse.data() + i0 + c * kLanes), drow[c] = simd::load(s.drow.data() + i0 + c * kLanes);
  // P^T = exp(S^T - lse): 0 in dead rows and padding lanes (lse = +inf there).
  scores<NV>(P, k, s.qt.data() + i0 * P.D, mask.tile(b, h, i0, rows, j0, cols, s.mask.data()), cols, st, Identity{});
  for (int64_t jj = 0; jj < cols; ++jj)
    for (int c = 0; c < NV; ++c) {
      float* x = st + jj * kQueries + c * kLanes;
      simd::store(x, simd::exp_nonpositive(simd::load(x) - lse[c]));
    }
  const float* pd = st;  // the weights as dropout left them
  if (P.drop) {
    dropout_tile(P, bh, i0, rows, j0, cols, s.factors.data(), s.ft.data());
    for (int64_t e = 0; e < cols * kQueries; e += kLanes)
      simd::store(s.pdt.data() + e, simd::load(st + e) * simd::load(s.ft.data() + e));
    pd = s.pdt.data();
  }
  // dP^T = V dO^T, turned into dS^T = P^T (dP^T - rowsum(dO O)) as it is stored (dP^T
  // scaled by the dropout factors first).
  auto ds = [&](int64_t jj, int c, VecF x) {
    return simd::load(st + jj * kQueries + c * kLanes) * (x - drow[c]);
  };
  auto ds_dropped = [&](int64_t jj, int c, VecF x) {
    return ds(jj, c, x * simd::load(s.ft.data() + jj * kQueries + c * kLanes));
  };
  const float* dot = s.dot.data() + i0 * P.Dv;
  if (P.drop) product<NV * kLanes, false>(v, P.v.st, 1, dot, kQueries, P.Dv, dpt, kQueries, cols, ds_dropped);
  else product<NV * kLanes, false>(v, P.v.st, 1, dot, kQueries, P.Dv, dpt, kQueries, cols, ds);
  const bool first_queries = i0 == 0;
  product_head(P.Dv, !first_queries, pd, kQueries, 1, P.grad_out.at(b, h, i0), P.grad_out.st, rows, dv, P.dv.st,
               cols);  // dV += Pd^T dO
  // dQ^T [D][kQueries] += K^T dS^T (K read transposed in place); dK += dS^T Q.
  product_acc<NV * kLanes>(!first_keys, k, 1, P.k.st, dpt, kQueries, cols, s.dqt.data() + i0 * P.D, kQueries, P.D);
  product_head(P.D, !first_queries, dpt, kQueries, 1, P.q.at(b, h, i0), P.q.st, rows, dk, P.dk.st, cols);
}

// Keys [j0, j0 + cols) of (b, h) against every query block: dk, dv rows j0.. written, dQ^T
// accumulated in s.dqt (stored when first_keys).
inline void backward_key_block(const AttentionProblem<float>& P, const TransposedMask& mask, int64_t bh, int64_t j0,
                               int64_t cols, bool first_keys, BackwardScratch& s) {
  const int64_t b = bh / P.H, h = bh % P.H;
  float* dk = P.dk.at(b, h, j0);
  float* dv = P.dv.at(b, h, j0);
  if (P.Tq == 0)
    for (int64_t jj = 0; jj < cols; ++jj)
      std::fill_n(dk + jj * P.dk.st, P.D, 0.f), std::fill_n(dv + jj * P.dv.st, P.Dv, 0.f);
  for (int64_t i0 = 0; i0 < P.Tq; i0 += kQueries) {
    const int64_t rows = std::min<int64_t>(kQueries, P.Tq - i0);
    with_query_vecs(rows, [&](auto nv) { backward_tile<nv()>(P, mask, bh, i0, rows, j0, cols, first_keys, dk, dv, s); });
  }
  for (int64_t jj = 0; jj < cols; ++jj)
    for (int64_t d = 0; d < P.D; ++d) dk[jj * P.dk.st + d] *= P.scale;
}

// Backward over keys [j_begin, j_end) of (b, h) (a key group): dk, dv of those keys, and that
// group's dq (scale included) into dq's rows. drow: rowsum(dO O) of every (b, h, query).
inline void backward_keys(const AttentionProblem<float>& P, const TransposedMask& mask, const float* drow, int64_t bh,
                          int64_t j_begin, int64_t j_end, AttnRows<float*> dq, BackwardScratch& s) {
  const int64_t b = bh / P.H, h = bh % P.H, Tqp = s.nq * kQueries;
  const float inf = std::numeric_limits<float>::infinity();
  if (s.packed_bh != bh) {  // once per thread for the key groups of one (b, h)
    for (int64_t qb = 0; qb < s.nq; ++qb) {
      const int64_t i0 = qb * kQueries, rows = std::min<int64_t>(kQueries, P.Tq - i0);
      pack_transposed(P.q.at(b, h, i0), P.q.st, rows, P.D, P.scale, s.qt.data() + i0 * P.D);
      pack_transposed(P.grad_out.at(b, h, i0), P.grad_out.st, rows, P.Dv, 1.f, s.dot.data() + i0 * P.Dv);
    }
    std::copy(P.lse + bh * P.Tq, P.lse + (bh + 1) * P.Tq, s.lse.begin());
    std::fill(s.lse.begin() + P.Tq, s.lse.begin() + Tqp, inf);
    std::copy(drow + bh * P.Tq, drow + (bh + 1) * P.Tq, s.drow.begin());
    std::fill(s.drow.begin() + P.Tq, s.drow.begin() + Tqp, 0.f);
    s.packed_bh = bh;
  }
  if (j_begin == j_end) std::fill(s.dqt.begin(), s.dqt.end(), 0.f);  // an empty group's dq is 0
  for (int64_t j0 = j_begin; j0 < j_end; j0 += s.key_block)
    backward_key_block(P, mask, bh, j0, std::min(s.key_block, j_end - j0), j0 == j_begin, s);
  for (int64_t i0 = 0; i0 < P.Tq; i0 += kQueries)
    unpack_transposed(s.dqt.data() + i0 * P.D, std::min<int64_t>(kQueries, P.Tq - i0), P.D, dq.row(i0), dq.ld,
                      [&](int64_t) { return P.scale; });
}

// Work items (b, h, key group g of G): keys of blocks [nk g / G, nk (g + 1) / G); dq_of(w) is
// where item w's dq goes (AttnRows).
template <typename DqOf>
void attention_backward(const AttentionProblem<float>& P, const float* drow, int64_t G, DqOf&& dq_of) {
  const KeyBlocks blocks(P.Tk);
  const int64_t nk = blocks.count, nq = (P.Tq + kQueries - 1) / kQueries;
  const TransposedMask mask(P, nq * kQueries);
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(P.Tq * P.Tk / G * (P.D + P.Dv), 1));
  parallel_for(P.B * P.H * G, grain, [&](int64_t w0, int64_t w1) {
    BackwardScratch s(P);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w % G, j_begin = nk * g / G * blocks.size;
      const int64_t j_end = std::min(P.Tk, nk * (g + 1) / G * blocks.size);
      backward_keys(P, mask, drow, w / G, j_begin, j_end, dq_of(w), s);
    }
  });
}

}  // namespace onenip::kernels::cpu::lanes

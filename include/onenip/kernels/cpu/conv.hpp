// CPU conv2d as GEMMs over im2col columns (non-depthwise geometries), and the per-channel bias
// helpers. Per image n and group g, with col = im2col(x[n, g]) of shape [Cg*kh*kw, Ho*Wo]:
//   forward       out[n, g]  = W_g @ col                       W_g: [Og, Cg*kh*kw]
//   grad_input    x-grad     = col2im(W_gᵀ @ gout[n, g])       (col2im is im2col's adjoint)
//   grad_weight   W_g-grad  += gout[n, g] @ colᵀ
// A 1x1, stride-1, unpadded conv needs no im2col: col is x[n, g] itself, a [Cg, H*W] view.
// Columns are built for a block of output rows at a time (bounded memory, nothing kept for
// backward: backward rebuilds them). Depthwise convs take the direct loops of conv_depthwise.hpp.
#pragma once

#include <algorithm>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "../../core/parallel.hpp"
#include "../gemm.hpp"
#include "conv_depthwise.hpp"
#include "scratch.hpp"

namespace onenip::kernels::cpu {

// C[M, N] (= or +=) op(A) @ op(B), all row-major with leading dimensions; op(A) = Aᵀ when ta (A
// is then stored [K, M]), likewise B: BLAS's convention, on the GEMM kernel. Called inside
// parallel regions, where the GEMM runs single-threaded.
template <typename T>
void gemm_rm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb,
             T* C, int64_t ldc, bool accumulate) {
  GemmProblem<T> p;
  p.M = M, p.N = N, p.K = K;
  p.a = A, p.a_rs = ta ? 1 : lda, p.a_cs = ta ? lda : 1;
  p.b = B, p.b_rs = tb ? 1 : ldb, p.b_cs = tb ? ldb : 1;
  p.c = C, p.ldc = ldc, p.accumulate = accumulate;
  cpu::gemm(p);
}

// Run f(begin, end) over independent work items: split across threads when they balance (the GEMM
// then runs single-threaded in each), else serially so each GEMM spreads over the threads.
template <typename F>
void conv_schedule(int64_t items, F&& f) {
  int t = num_threads();
  if (t > 1 && items >= t && (items % t == 0 || items >= 4 * t)) {
    parallel_for(items, 1, f);
  } else {
    f(int64_t(0), items);
  }
}

// Output rows per column block: the column buffer stays under ~1M elements per thread.
inline int64_t conv_block_rows(const ConvGeom& g) {
  if (g.pointwise()) return g.Ho;
  constexpr int64_t budget = int64_t(1) << 20;
  int64_t rows = std::clamp<int64_t>(budget / std::max<int64_t>(1, g.K() * g.Wo), 1, g.Ho);
  int64_t blocks = ceil_div(g.Ho, rows);
  return ceil_div(g.Ho, blocks);  // equal-sized blocks
}

// Gather (Scatter = false): col[(c, ki, kj), (oh - oh0) * Wo + ow] = x[c, ih, iw], zero where
// (ih, iw) is padding. Scatter = true is the adjoint: x[c, ih, iw] += col[...] (col2im).
// `img` is one group of one image, [Cg, H, W]; col is [Cg*kh*kw, (oh1 - oh0) * Wo].
template <bool Scatter, typename T>
void im2col_rows(const ConvGeom& g, const std::vector<ColRange>& ranges, std::conditional_t<Scatter, T*, const T*> img,
                 std::conditional_t<Scatter, const T*, T*> col, int64_t oh0, int64_t oh1) {
  const int64_t cols = (oh1 - oh0) * g.Wo;
  for (int64_t c = 0; c < g.Cg(); ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        auto crow = col + ((c * g.kh + ki) * g.kw + kj) * cols;
        const ColRange r = ranges[size_t(kj)];
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          auto cr = crow + (oh - oh0) * g.Wo;
          int64_t ih = oh * g.sh + ki * g.dh - g.pt;
          if (ih < 0 || ih >= g.H) {
            if constexpr (!Scatter) std::fill(cr, cr + g.Wo, T(0));
            continue;
          }
          const int64_t xb = (c * g.H + ih) * g.W + r.off;  // column ow reads img[xb + ow * sw], ow in [lo, hi)
          if constexpr (Scatter) {
            if (g.sw == 1) for (int64_t ow = r.lo; ow < r.hi; ++ow) img[xb + ow] += cr[ow];
            else for (int64_t ow = r.lo; ow < r.hi; ++ow) img[xb + ow * g.sw] += cr[ow];
          } else {
            std::fill(cr, cr + r.lo, T(0));
            if (g.sw == 1) for (int64_t ow = r.lo; ow < r.hi; ++ow) cr[ow] = img[xb + ow];
            else for (int64_t ow = r.lo; ow < r.hi; ++ow) cr[ow] = img[xb + ow * g.sw];
            std::fill(cr + r.hi, cr + g.Wo, T(0));
          }
        }
      }
    }
  }
}

// The column matrix of (image n, group grp, rows [oh0, oh1)) as (pointer, leading dim): x itself
// for pointwise convs, else built into `buf`.
template <typename T>
std::pair<const T*, int64_t> conv_columns(const ConvGeom& g, const std::vector<ColRange>& ranges, const T* x,
                                          int64_t n, int64_t grp, int64_t oh0, int64_t oh1, T* buf) {
  const T* xg = x + (n * g.C + grp * g.Cg()) * g.H * g.W;
  if (g.pointwise()) return {xg + oh0 * g.Wo, g.H * g.W};
  im2col_rows<false, T>(g, ranges, xg, buf, oh0, oh1);
  return {buf, (oh1 - oh0) * g.Wo};
}

// out [N, O, Ho, Wo] = conv2d(x, w) + b (b may be null).
template <typename T>
void conv_forward_gemm(const ConvGeom& g, const T* x, const T* w, const T* b, T* out) {
  const int64_t rows = conv_block_rows(g), nb = ceil_div(g.Ho, rows), P = g.P(), K = g.K(), Og = g.Og();
  const auto ranges = g.col_ranges();
  conv_schedule(g.N * nb, [&](int64_t i0, int64_t i1) {
    Scratch<T> buf(size_t(g.pointwise() ? 0 : K * rows * g.Wo));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / nb, oh0 = (item % nb) * rows, oh1 = std::min(g.Ho, oh0 + rows), cols = (oh1 - oh0) * g.Wo;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        auto [B, ldb] = conv_columns(g, ranges, x, n, grp, oh0, oh1, buf.data());
        T* og = out + (n * g.O + grp * Og) * P + oh0 * g.Wo;
        if (b)
          for (int64_t o = 0; o < Og; ++o) std::fill(og + o * P, og + o * P + cols, b[grp * Og + o]);
        gemm_rm(false, false, Og, cols, K, w + grp * Og * K, K, B, ldb, og, P, b != nullptr);
      }
    }
  });
}

// gx [N, C, H, W] (overwritten) = the input gradient of conv2d for output gradient gout.
template <typename T>
void conv_grad_input_gemm(const ConvGeom& g, const T* gout, const T* w, T* gx) {
  const int64_t rows = conv_block_rows(g), P = g.P(), K = g.K(), Og = g.Og(), HW = g.H * g.W;
  const auto ranges = g.col_ranges();
  // Whole images per work item: blocks of one image scatter into overlapping rows of gx.
  conv_schedule(g.N, [&](int64_t n0, int64_t n1) {
    Scratch<T> buf(size_t(g.pointwise() ? 0 : K * rows * g.Wo));
    for (int64_t n = n0; n < n1; ++n) {
      if (!g.pointwise()) std::fill(gx + n * g.C * HW, gx + (n + 1) * g.C * HW, T(0));
      for (int64_t oh0 = 0; oh0 < g.Ho; oh0 += rows) {
        const int64_t oh1 = std::min(g.Ho, oh0 + rows), cols = (oh1 - oh0) * g.Wo;
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          const T* go = gout + (n * g.O + grp * Og) * P + oh0 * g.Wo;
          T* gxg = gx + (n * g.C + grp * g.Cg()) * HW;
          if (g.pointwise()) {
            gemm_rm(true, false, K, cols, Og, w + grp * Og * K, K, go, P, gxg + oh0 * g.Wo, HW, false);
          } else {
            gemm_rm(true, false, K, cols, Og, w + grp * Og * K, K, go, P, buf.data(), cols, false);
            im2col_rows<true, T>(g, ranges, gxg, buf.data(), oh0, oh1);
          }
        }
      }
    }
  });
}

// gw [O, C/groups, kh, kw] (overwritten) = the weight gradient of conv2d.
template <typename T>
void conv_grad_weight_gemm(const ConvGeom& g, const T* x, const T* gout, T* gw) {
  const int64_t rows = conv_block_rows(g), nb = ceil_div(g.Ho, rows), P = g.P(), K = g.K(), Og = g.Og();
  const int64_t wsize = g.O * K;
  const auto ranges = g.col_ranges();
  std::fill(gw, gw + wsize, T(0));
  // Several chunks: each sums into its own buffer, merged in chunk order afterwards so the result
  // does not depend on which thread finishes first.
  std::mutex merge;
  std::vector<std::pair<int64_t, Scratch<T>>> parts;
  conv_schedule(g.N * nb, [&](int64_t i0, int64_t i1) {
    const bool alone = i0 == 0 && i1 == g.N * nb;  // the only chunk: accumulate in place
    Scratch<T> buf(size_t(g.pointwise() ? 0 : K * rows * g.Wo));
    Scratch<T> part(size_t(alone ? 0 : wsize));
    T* acc = alone ? gw : part.data();
    if (!alone) std::fill(acc, acc + wsize, T(0));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / nb, oh0 = (item % nb) * rows, oh1 = std::min(g.Ho, oh0 + rows), cols = (oh1 - oh0) * g.Wo;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        auto [B, ldb] = conv_columns(g, ranges, x, n, grp, oh0, oh1, buf.data());
        const T* go = gout + (n * g.O + grp * Og) * P + oh0 * g.Wo;
        gemm_rm(false, true, Og, K, cols, go, P, B, ldb, acc + grp * Og * K, K, true);
      }
    }
    if (!alone) {
      std::lock_guard<std::mutex> lock(merge);
      parts.emplace_back(i0, std::move(part));
    }
  });
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [i0, part] : parts) {
    const T* p = part.data();
    for (int64_t i = 0; i < wsize; ++i) gw[i] += p[i];
  }
}

template <typename T>
void channel_sum(const ChannelSumProblem<T>& q) {
  const T* g = q.g;
  T* out = q.out;
  const int64_t N = q.N, C = q.C, P = q.P;
  parallel_for(C, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, N * P)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T s = 0;
      for (int64_t n = 0; n < N; ++n) {
        const T* p = g + (n * C + c) * P;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < P; ++i) s += p[i];
      }
      out[c] = s;
    }
  });
}

// y[n, c, :] += b[c] for y [N, C, P].
template <typename T>
void add_channel_bias(T* y, const T* b, int64_t N, int64_t C, int64_t P) {
  parallel_for(N * C, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, P)), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const T v = b[i % C];
      T* p = y + i * P;
      for (int64_t j = 0; j < P; ++j) p[j] += v;
    }
  });
}

// The three passes, each through the depthwise loops or the GEMM formulation.
template <typename T>
void conv2d(const ConvProblem<T>& p) {
  if (p.geom.depthwise()) depthwise_forward(p.geom, p.x, p.w, p.bias, p.y);
  else conv_forward_gemm(p.geom, p.x, p.w, p.bias, p.y);
}

template <typename T>
void conv2d_grad_input(const ConvProblem<T>& p) {
  const ConvGeom& g = p.geom;
  if (g.depthwise()) depthwise_grad_input(g, p.y, p.w, p.x);
  else conv_grad_input_gemm(g, p.y, p.w, p.x);
  if (p.bias) add_channel_bias(p.x, p.bias, g.N, g.C, g.H * g.W);
}

template <typename T>
void conv2d_grad_weight(const ConvProblem<T>& p) {
  if (p.geom.depthwise()) depthwise_grad_weight(p.geom, p.x, p.y, p.w);
  else conv_grad_weight_gemm(p.geom, p.x, p.y, p.w);
}

}  // namespace onenip::kernels::cpu

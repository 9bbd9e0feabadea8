// Depthwise conv2d (groups == C == O): one kh x kw filter per channel, direct loops, no GEMM.
// The backbones' shapes (3x3 / 5x5, stride 1 / 2) take conv_depthwise_fast.hpp; every other
// geometry (dilation, other kernels and strides) takes the general loops here, which walk the
// (output row, tap) nest of for_each_tap with the innermost loop over output columns. Planes
// (n, c) run in parallel; no pass writes across planes, so there are no races.
#pragma once

#include "conv_depthwise_fast.hpp"

namespace onenip::kernels::cpu {

// For output row oh of one plane: f(ki, kj, ih, range, step) for every tap whose input row ih is
// inside the image. Output columns [range.lo, range.hi) read input columns ow * step + range.off.
// `step` is a compile-time 1 for unit stride, so the inner loops that use it vectorise.
template <typename F>
void for_each_tap(const ConvGeom& g, const std::vector<ColRange>& ranges, int64_t oh, F&& f) {
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    int64_t ih = oh * g.sh + ki * g.dh - g.pt;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      if (g.sw == 1) f(ki, kj, ih, ranges[size_t(kj)], std::integral_constant<int64_t, 1>{});
      else f(ki, kj, ih, ranges[size_t(kj)], g.sw);
    }
  }
}


// Planes per parallel chunk so a chunk is worth a thread.
inline int64_t depthwise_grain(const ConvGeom& g) {
  return std::max<int64_t>(1, 65536 / std::max<int64_t>(1, g.P() * g.kh * g.kw));
}

// out[n, c] = w[c] ⋆ x[n, c] + b[c] (b may be null).
template <typename T>
void depthwise_forward_loops(const ConvGeom& g, const T* x, const T* w, const T* b, T* out) {
  const auto ranges = g.col_ranges();
  const int64_t HW = g.H * g.W, P = g.P(), KK = g.kh * g.kw;
  parallel_for(g.N * g.C, depthwise_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % g.C;
      const T* xp = x + p * HW;
      const T* wc = w + c * KK;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        T* __restrict row = out + p * P + oh * g.Wo;
        std::fill(row, row + g.Wo, b ? b[c] : T(0));
        for_each_tap(g, ranges, oh, [&](int64_t ki, int64_t kj, int64_t ih, ColRange r, auto step) {
          const T wv = wc[ki * g.kw + kj];
          const T* __restrict xr = xp + ih * g.W;
          for (int64_t ow = r.lo; ow < r.hi; ++ow) row[ow] += wv * xr[ow * step + r.off];
        });
      }
    }
  });
}

// gx [N, C, H, W] (overwritten): the input gradient, scattering each output gradient back
// through the taps.
template <typename T>
void depthwise_grad_input_loops(const ConvGeom& g, const T* gout, const T* w, T* gx) {
  const auto ranges = g.col_ranges();
  const int64_t HW = g.H * g.W, P = g.P(), KK = g.kh * g.kw;
  parallel_for(g.N * g.C, depthwise_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % g.C;
      T* xp = gx + p * HW;
      std::fill(xp, xp + HW, T(0));
      const T* wc = w + c * KK;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const T* __restrict grow = gout + p * P + oh * g.Wo;
        for_each_tap(g, ranges, oh, [&](int64_t ki, int64_t kj, int64_t ih, ColRange r, auto step) {
          const T wv = wc[ki * g.kw + kj];
          T* __restrict xr = xp + ih * g.W;
          for (int64_t ow = r.lo; ow < r.hi; ++ow) xr[ow * step + r.off] += wv * grow[ow];
        });
      }
    }
  });
}

// gw [C, 1, kh, kw] (overwritten): per plane, each tap's dot product of the output gradient
// with the input it read; then summed over the batch.
template <typename T>
void depthwise_grad_weight_loops(const ConvGeom& g, const T* x, const T* gout, T* gw) {
  const auto ranges = g.col_ranges();
  const int64_t HW = g.H * g.W, P = g.P(), KK = g.kh * g.kw;
  std::vector<T> part(size_t(g.N * g.C * KK), T(0));  // [N, C, kh*kw]
  parallel_for(g.N * g.C, depthwise_grain(g), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * HW;
      T* acc = part.data() + p * KK;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const T* grow = gout + p * P + oh * g.Wo;
        for_each_tap(g, ranges, oh, [&](int64_t ki, int64_t kj, int64_t ih, ColRange r, auto step) {
          const T* xr = xp + ih * g.W;
          T s = 0;
#pragma omp simd reduction(+ : s)
          for (int64_t ow = r.lo; ow < r.hi; ++ow) s += grow[ow] * xr[ow * step + r.off];
          acc[ki * g.kw + kj] += s;
        });
      }
    }
  });
  for (int64_t i = 0; i < g.C * KK; ++i) {
    T s = 0;
    for (int64_t n = 0; n < g.N; ++n) s += part[size_t(n * g.C * KK + i)];
    gw[i] = s;
  }
}

// The three passes, each through the fast path when it applies.
template <typename T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* out) {
  if (depthwise_fast_ok(g)) depthwise_fast_forward(g, x, w, b, out);
  else depthwise_forward_loops(g, x, w, b, out);
}
template <typename T>
void depthwise_grad_input(const ConvGeom& g, const T* gout, const T* w, T* gx) {
  if (depthwise_fast_ok(g)) depthwise_fast_grad_input(g, gout, w, gx);
  else depthwise_grad_input_loops(g, gout, w, gx);
}
template <typename T>
void depthwise_grad_weight(const ConvGeom& g, const T* x, const T* gout, T* gw) {
  if (depthwise_fast_ok(g)) depthwise_fast_grad_weight(g, x, gout, gw);
  else depthwise_grad_weight_loops(g, x, gout, gw);
}

}  // namespace onenip::kernels::cpu

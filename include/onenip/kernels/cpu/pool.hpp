// CPU max pooling: direct loops over (output row, tap) as in the depthwise conv, planes in
// parallel; the backward recomputes each window's arg-max.
#pragma once

#include <limits>
#include <vector>

#include "../conv.hpp"

namespace onenip::kernels::cpu {

// Max over each window of output row oh of one plane into m; with WithArg, the flat input index
// of each maximum into arg (the forward skips it, so its loop is a plain vectorised max). A window
// whose values are all -inf gets its first tap, so its gradient stays inside it.
template <bool WithArg, typename T>
void max_pool_row(const ConvGeom& g, const std::vector<ColRange>& ranges, const T* xp, int64_t oh, T* m, int64_t* arg) {
  std::fill(m, m + g.Wo, -std::numeric_limits<T>::infinity());
  if constexpr (WithArg) std::fill(arg, arg + g.Wo, int64_t(-1));
  for_each_tap(g, ranges, oh, [&](int64_t, int64_t, int64_t ih, ColRange r, auto step) {
    const T* xr = xp + ih * g.W;
    for (int64_t ow = r.lo; ow < r.hi; ++ow) {
      const T v = xr[ow * step + r.off];
      bool take = v > m[ow] || v != v;
      if constexpr (WithArg) take = take || arg[ow] < 0;
      m[ow] = take ? v : m[ow];
      if constexpr (WithArg) arg[ow] = take ? ih * g.W + ow * step + r.off : arg[ow];
    }
  });
}

// Run f(plane, out_row, m, arg) for every plane and output row, planes in parallel.
template <bool WithArg, typename T, typename F>
void max_pool_planes(const ConvGeom& g, const T* x, F&& f) {
  const auto ranges = g.col_ranges();
  parallel_for(g.N * g.C, depthwise_grain(g), [&](int64_t p0, int64_t p1) {
    std::vector<T> m(size_t(g.Wo));
    std::vector<int64_t> arg(size_t(g.Wo));
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        max_pool_row<WithArg>(g, ranges, x + p * g.H * g.W, oh, m.data(), arg.data());
        f(p, oh, m.data(), arg.data());
      }
  });
}

template <typename T>
void max_pool2d(const MaxPoolProblem<T>& p) {
  const ConvGeom& g = p.geom;
  max_pool_planes<false>(g, p.x, [&](int64_t q, int64_t oh, const T* m, const int64_t*) {
    std::copy(m, m + g.Wo, p.y + (q * g.Ho + oh) * g.Wo);
  });
}

template <typename T>
void max_pool2d_backward(const MaxPoolProblem<T>& p) {
  const ConvGeom& g = p.geom;
  std::fill(p.gx, p.gx + g.N * g.C * g.H * g.W, T(0));
  max_pool_planes<true>(g, p.x, [&](int64_t q, int64_t oh, const T*, const int64_t* arg) {
    const T* gr = p.gy + (q * g.Ho + oh) * g.Wo;
    T* xp = p.gx + q * g.H * g.W;
    for (int64_t ow = 0; ow < g.Wo; ++ow) xp[arg[ow]] += gr[ow];
  });
}

}  // namespace onenip::kernels::cpu

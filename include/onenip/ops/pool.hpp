/// \file
/// Pooling over [N, C, H, W] with PyTorch's semantics (floor mode, padding at most half the kernel).
///   avg_pool2d, global_avg_pool2d: separable linear maps (separable.hpp), so their backward is
///     the adjoint of the same 1-D matrices and keeps no tensor.
///   max_pool2d: kernels/pool.hpp; padding acts as -inf, ties go to the first maximum in window
///     order, NaN propagates. Backward recomputes the arg-max from the saved input rather than
///     storing indices.
#pragma once

#include <array>
#include <limits>

#include "../kernels/pool.hpp"
#include "conv.hpp"
#include "creation.hpp"
#include "separable.hpp"

namespace onenip {

namespace detail {

// Validated pooling geometry: a depthwise "conv" with an all-ones kernel.
inline ConvGeom pool_geometry(const char* op, const Shape& xs, std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                              std::array<int64_t, 2> p) {
  ONENIP_CHECK(xs.size() == 4, op, ": input must be 4-D [N, C, H, W], got shape ", shape_str(xs));
  for (int i = 0; i < 2; ++i) {
    ONENIP_CHECK(k[i] >= 1 && s[i] >= 1 && p[i] >= 0, op, ": kernel and stride must be >= 1 and padding >= 0, got ",
                 "kernel (", k[0], ", ", k[1], "), stride (", s[0], ", ", s[1], "), padding (", p[0], ", ", p[1], ")");
    ONENIP_CHECK(2 * p[i] <= k[i], op, ": padding (", p[0], ", ", p[1], ") must be at most half the kernel (", k[0],
                 ", ", k[1], ")");
  }
  ONENIP_CHECK(xs[2] + 2 * p[0] >= k[0] && xs[3] + 2 * p[1] >= k[1], op, ": kernel (", k[0], ", ", k[1],
               ") is larger than the padded input ", xs[2] + 2 * p[0], "x", xs[3] + 2 * p[1], " (input ",
               shape_str(xs), ")");
  ConvGeom g;
  g.N = xs[0], g.C = g.O = g.groups = xs[1], g.H = xs[2], g.W = xs[3];
  g.kh = k[0], g.kw = k[1], g.sh = s[0], g.sw = s[1];
  g.pt = g.pb = p[0], g.pl = g.pr = p[1];
  g.finish();
  return g;
}

// 1-D average-pool matrix: row o averages [o*s - p, o*s - p + k) clipped to the input, divided
// by k (count_include_pad) or by the number of input elements in the window.
template <typename T>
std::shared_ptr<const AxisMap<T>> avg_pool_axis(int64_t in, int64_t k, int64_t s, int64_t p, bool count_include_pad) {
  auto m = std::make_shared<AxisMap<T>>();
  m->in = in;
  const int64_t out = (in + 2 * p - k) / s + 1;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t lo = std::max<int64_t>(o * s - p, 0), hi = std::min(o * s - p + k, in);
    const T wv = T(1) / T(count_include_pad ? k : hi - lo);
    for (int64_t i = lo; i < hi; ++i) m->add(i, wv);
    m->end_row();
  }
  return m;
}

}  // namespace detail

/// x [N, C, H, W] -> [N, C, Ho, Wo], Ho = (H + 2*padding - kernel) / stride + 1. Zero padding;
/// count_include_pad = false divides by the number of real elements in each window.
template <typename T>
Tensor<T> avg_pool2d(const Tensor<T>& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                     std::array<int64_t, 2> padding = {0, 0}, bool count_include_pad = true) {
  ONENIP_CHECK(x.defined(), "avg_pool2d: input is an undefined tensor");
  const detail::ConvGeom g = detail::pool_geometry("avg_pool2d", x.shape(), kernel, stride, padding);
  return detail::separable_map(x, detail::avg_pool_axis<T>(g.H, g.kh, g.sh, g.pt, count_include_pad),
                               detail::avg_pool_axis<T>(g.W, g.kw, g.sw, g.pl, count_include_pad), "AvgPool2d");
}

/// x [N, C, H, W] -> [N, C, Ho, Wo]; padding reads as -inf.
template <typename T>
Tensor<T> max_pool2d(const Tensor<T>& x, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                     std::array<int64_t, 2> padding = {0, 0}) {
  ONENIP_CHECK(x.defined(), "max_pool2d: input is an undefined tensor");
  const detail::ConvGeom g = detail::pool_geometry("max_pool2d", x.shape(), kernel, stride, padding);
  Tensor<T> xc = x.detach().contiguous();  // the kernel indexes NCHW directly
  Tensor<T> out = Tensor<T>::empty({g.N, g.C, g.Ho, g.Wo}, x.device());
  kernels::max_pool2d<T>({x.device(), g, xc.data_ptr(), out.data_ptr()});
  if (!any_requires_grad<T>({&x})) return out;
  SavedTensor<T> sx(xc, "MaxPool2d");
  return record<T>(out, "MaxPool2d", {x}, [g, sx](const Tensor<T>& grad) {
    Tensor<T> go = grad.contiguous(), xs = sx.get();
    Tensor<T> gx = Tensor<T>::empty({g.N, g.C, g.H, g.W}, go.device());
    kernels::max_pool2d_backward<T>({go.device(), g, xs.data_ptr(), nullptr, go.data_ptr(), gx.data_ptr()});
    return std::vector<Tensor<T>>{gx};
  });
}

/// x [N, C, H, W] -> [N, C, 1, 1], the mean of each plane.
template <typename T>
Tensor<T> global_avg_pool2d(const Tensor<T>& x) {
  ONENIP_CHECK(x.defined(), "global_avg_pool2d: input is an undefined tensor");
  ONENIP_CHECK(x.dim() == 4 && x.size(2) > 0 && x.size(3) > 0,
               "global_avg_pool2d: input must be 4-D [N, C, H, W] with H, W > 0, got shape ", shape_str(x.shape()));
  return detail::separable_map(x, detail::avg_pool_axis<T>(x.size(2), x.size(2), 1, 0, true),
                               detail::avg_pool_axis<T>(x.size(3), x.size(3), 1, 0, true), "GlobalAvgPool2d");
}

}  // namespace onenip

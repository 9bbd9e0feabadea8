/// \file
/// Resizing and blurring of [N, C, H, W] planes, each a separable linear map (separable.hpp):
///   resize_bilinear / resize_nearest: PyTorch's F.interpolate (mode 'bilinear' / 'nearest', output
///     size given, no antialias), up or down. Source coordinates are computed in T, as PyTorch does
///     for a T tensor (float for 'nearest' whatever T is, also as PyTorch does).
///   gaussian_blur2d: scipy.ndimage.gaussian_filter(x, sigma=(0, 0, s, s)) with its defaults
///     mode='reflect' (half-sample symmetric: d c b a | a b c d | d c b a, repeated as often as
///     the kernel needs) and truncate=4, i.e. radius int(4 * sigma + 0.5) — scipy's own rounding,
///     which differs from ceil(4 * sigma) when the fractional part of 4 * sigma is below 0.5.
#pragma once

#include <cmath>

#include "separable.hpp"

namespace onenip {

namespace detail {

inline void check_planes(const char* op, const Shape& xs) {
  ONENIP_CHECK(xs.size() == 4 && xs[2] > 0 && xs[3] > 0, op, ": input must be 4-D [N, C, H, W] with H, W > 0, got shape ",
               shape_str(xs));
}

// 1-D linear interpolation matrix, PyTorch's upsample_linear1d index and weight rules.
template <typename T>
std::shared_ptr<const AxisMap<T>> bilinear_axis(int64_t in, int64_t out, bool align_corners) {
  auto m = std::make_shared<AxisMap<T>>();
  m->in = in;
  const T scale = align_corners ? (out > 1 ? T(in - 1) / T(out - 1) : T(0)) : T(in) / T(out);
  for (int64_t o = 0; o < out; ++o) {
    const T src = align_corners ? scale * T(o) : std::max(scale * (T(o) + T(0.5)) - T(0.5), T(0));
    const int64_t i0 = std::min(int64_t(std::floor(src)), in - 1);
    const T l1 = std::min(std::max(src - T(i0), T(0)), T(1));
    m->add(i0, T(1) - l1);
    m->add(i0 + (i0 < in - 1 ? 1 : 0), l1);
    m->end_row();
  }
  return m;
}

// 1-D nearest matrix, PyTorch's nearest_idx (exact for equal and doubled sizes, else float scale).
template <typename T>
std::shared_ptr<const AxisMap<T>> nearest_axis(int64_t in, int64_t out) {
  auto m = std::make_shared<AxisMap<T>>();
  m->in = in;
  const float scale = float(in) / float(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i = out == in ? o : out == 2 * in ? o >> 1 : std::min(int64_t(std::floor(float(o) * scale)), in - 1);
    m->add(i, T(1));
    m->end_row();
  }
  return m;
}

// scipy's reflect extension of index i into [0, n): period 2n, mirrored with the edge repeated.
inline int64_t reflect_index(int64_t i, int64_t n) {
  const int64_t period = 2 * n;
  i = ((i % period) + period) % period;
  return i < n ? i : period - 1 - i;
}

// 1-D Gaussian correlation matrix (scipy's normalised kernel, weights in double then cast).
template <typename T>
std::shared_ptr<const AxisMap<T>> gaussian_axis(int64_t n, double sigma) {
  const int64_t r = int64_t(4.0 * sigma + 0.5);
  std::vector<double> phi(size_t(2 * r + 1));
  double total = 0;
  for (int64_t t = -r; t <= r; ++t) total += phi[size_t(t + r)] = std::exp(-0.5 / (sigma * sigma) * double(t * t));
  auto m = std::make_shared<AxisMap<T>>();
  m->in = n;
  for (int64_t o = 0; o < n; ++o) {
    for (int64_t t = -r; t <= r; ++t) m->add(reflect_index(o + t, n), T(phi[size_t(t + r)] / total));
    m->end_row();
  }
  return m;
}

}  // namespace detail

/// x [N, C, H, W] -> [N, C, out_h, out_w], F.interpolate(mode='bilinear', align_corners=...).
template <typename T>
Tensor<T> resize_bilinear(const Tensor<T>& x, int64_t out_h, int64_t out_w, bool align_corners) {
  ONENIP_CHECK(x.defined(), "resize_bilinear: input is an undefined tensor");
  detail::check_planes("resize_bilinear", x.shape());
  ONENIP_CHECK(out_h >= 1 && out_w >= 1, "resize_bilinear: output size must be positive, got ", out_h, "x", out_w,
               " for input ", shape_str(x.shape()));
  return detail::separable_map(x, detail::bilinear_axis<T>(x.size(2), out_h, align_corners),
                               detail::bilinear_axis<T>(x.size(3), out_w, align_corners), "ResizeBilinear");
}

/// x [N, C, H, W] -> [N, C, out_h, out_w], F.interpolate(mode='nearest').
template <typename T>
Tensor<T> resize_nearest(const Tensor<T>& x, int64_t out_h, int64_t out_w) {
  ONENIP_CHECK(x.defined(), "resize_nearest: input is an undefined tensor");
  detail::check_planes("resize_nearest", x.shape());
  ONENIP_CHECK(out_h >= 1 && out_w >= 1, "resize_nearest: output size must be positive, got ", out_h, "x", out_w,
               " for input ", shape_str(x.shape()));
  return detail::separable_map(x, detail::nearest_axis<T>(x.size(2), out_h), detail::nearest_axis<T>(x.size(3), out_w),
                               "ResizeNearest");
}

/// Gaussian blur of each [H, W] plane (channels independent), scipy's gaussian_filter semantics
/// described at the top of this file. Same shape out.
template <typename T>
Tensor<T> gaussian_blur2d(const Tensor<T>& x, double sigma) {
  ONENIP_CHECK(x.defined(), "gaussian_blur2d: input is an undefined tensor");
  detail::check_planes("gaussian_blur2d", x.shape());
  ONENIP_CHECK(sigma > 0 && std::isfinite(sigma), "gaussian_blur2d: sigma must be positive and finite, got ", sigma);
  return detail::separable_map(x, detail::gaussian_axis<T>(x.size(2), sigma), detail::gaussian_axis<T>(x.size(3), sigma),
                               "GaussianBlur2d");
}

}  // namespace onenip

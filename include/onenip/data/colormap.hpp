/// \file
/// Heat maps for reports: a score map coloured with jet, blended over the image, and the
/// panels of one test case side by side (image | ground truth | heat map | overlay).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "../io/image.hpp"
#include "../ops/views.hpp"

namespace onenip::detail {
struct Knot {
  double x, y;
};
// Piecewise-linear interpolation through knots sorted by x (x from 0 to 1).
template <size_t N>
double piecewise(const std::array<Knot, N>& k, double v) {
  for (size_t i = 1; i < N; ++i)
    if (v <= k[i].x) return k[i - 1].y + (k[i].y - k[i - 1].y) * (v - k[i - 1].x) / (k[i].x - k[i - 1].x);
  return k[N - 1].y;
}
}  // namespace onenip::detail

namespace onenip::data {

using io::Image;

/// matplotlib's "jet" (its segment data), evaluated exactly and rounded: v in [0, 1] goes
/// dark blue (0, 0, 128) -> blue -> cyan -> yellow -> red -> dark red (128, 0, 0).
inline std::array<uint8_t, 3> jet(double v) {
  static const std::array<detail::Knot, 5> r{{{0, 0}, {0.35, 0}, {0.66, 1}, {0.89, 1}, {1, 0.5}}};
  static const std::array<detail::Knot, 6> g{{{0, 0}, {0.125, 0}, {0.375, 1}, {0.64, 1}, {0.91, 0}, {1, 0}}};
  static const std::array<detail::Knot, 5> b{{{0, 0.5}, {0.11, 1}, {0.34, 1}, {0.65, 0}, {1, 0}}};
  v = std::isnan(v) ? 0.0 : std::clamp(v, 0.0, 1.0);
  auto byte = [](double x) { return uint8_t(std::lround(x * 255.0)); };
  return {byte(detail::piecewise(r, v)), byte(detail::piecewise(g, v)), byte(detail::piecewise(b, v))};
}

/// A [H, W] or [1, H, W] score map as an RGB jet image: lo maps to 0, hi to 1, values outside
/// are clamped. lo == hi colours everything as 0.
template <typename T>
Image colorize(const Tensor<T>& map, double lo, double hi) {
  ONENIP_CHECK(map.dim() == 2 || (map.dim() == 3 && map.size(0) == 1),
               "colorize: map must be [H, W] or [1, H, W], got ", shape_str(map.shape()));
  ONENIP_CHECK(hi >= lo, "colorize: hi (", hi, ") is below lo (", lo, ")");
  Tensor<T> m = map.contiguous();
  Image out(int(m.size(-1)), int(m.size(-2)), 3);
  const T* p = m.data();
  const double span = hi - lo;
  for (size_t i = 0; i < size_t(m.numel()); ++i) {
    auto c = jet(span > 0 ? (double(p[i]) - lo) / span : 0.0);
    std::copy(c.begin(), c.end(), out.pixels.begin() + ptrdiff_t(3 * i));
  }
  return out;
}

/// round((1 - alpha) * image + alpha * heat), per pixel; a grey image counts as RGB.
inline Image overlay(const Image& image, const Image& heat, double alpha = 0.5) {
  ONENIP_CHECK(alpha >= 0 && alpha <= 1, "overlay: alpha must be in [0, 1], got ", alpha);
  ONENIP_CHECK(image.width == heat.width && image.height == heat.height, "overlay: image is ", image.width, " x ",
               image.height, " but heat map is ", heat.width, " x ", heat.height);
  Image a = io::convert_channels(image, 3), b = io::convert_channels(heat, 3), out(a.width, a.height, 3);
  for (size_t i = 0; i < out.pixels.size(); ++i)
    out.pixels[i] = uint8_t(std::lround((1 - alpha) * a.pixels[i] + alpha * b.pixels[i]));
  return out;
}

/// Panels side by side (grey ones made RGB), `gap` columns of `gap_value` between them.
inline Image hconcat(const std::vector<Image>& panels, int gap = 0, uint8_t gap_value = 255) {
  ONENIP_CHECK(!panels.empty(), "hconcat: no panels given");
  ONENIP_CHECK(gap >= 0, "hconcat: gap must be >= 0, got ", gap);
  int width = gap * int(panels.size() - 1);
  for (size_t i = 0; i < panels.size(); ++i) {
    ONENIP_CHECK(panels[i].height == panels[0].height, "hconcat: panel ", i, " is ", panels[i].height,
                 " pixels high, panel 0 is ", panels[0].height);
    width += panels[i].width;
  }
  Image out(width, panels[0].height, 3, gap_value);
  int x0 = 0;
  for (const Image& p : panels) {
    Image rgb = io::convert_channels(p, 3);
    for (int y = 0; y < rgb.height; ++y)
      std::copy_n(&rgb.pixels[size_t(y) * rgb.width * 3], size_t(rgb.width) * 3, &out.at(y, x0, 0));
    x0 += rgb.width + gap;
  }
  return out;
}

/// One report row: image | ground truth (empty Image = no mask: black) | jet(map) | overlay.
/// image and mask are the S x S inputs of the model, map its [S, S] (or [1, S, S]) scores.
template <typename T>
Image heatmap_panels(const Image& image, const Image& mask, const Tensor<T>& map, double lo, double hi,
                     double alpha = 0.5, int gap = 4) {
  Image heat = colorize(map, lo, hi);
  ONENIP_CHECK(heat.width == image.width && heat.height == image.height, "heatmap_panels: image is ", image.width,
               " x ", image.height, " but the map is ", shape_str(map.shape()));
  Image gt = mask.empty() ? Image(image.width, image.height, 1) : mask;
  ONENIP_CHECK(gt.width == image.width && gt.height == image.height, "heatmap_panels: image is ", image.width, " x ",
               image.height, " but the mask is ", gt.width, " x ", gt.height);
  return hconcat({image, gt, heat, overlay(image, heat, alpha)}, gap);
}

}  // namespace onenip::data

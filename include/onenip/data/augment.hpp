/// \file
/// Photometric augmentation of uint8 RGB images for anomaly synthesis (docs/onenip.md, section 4):
///   - color_jitter: torchvision ColorJitter(brightness, contrast, saturation, hue), the four in
///     random order, as applied to CutPaste patches;
///   - the ten texture augmenters of the Perlin paste (imgaug defaults), of which three distinct
///     ones are applied in random order (augment_texture).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>

#include "../io/image.hpp"
#include "../random.hpp"

namespace onenip::detail {
inline uint8_t clamp_u8(double v) { return uint8_t(std::clamp(std::lround(v), 0l, 255l)); }

// RGB in [0,1] <-> HSV with h, s, v in [0,1].
inline void rgb_to_hsv(double r, double g, double b, double& h, double& s, double& v) {
  double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
  v = mx;
  s = mx > 0 ? d / mx : 0;
  if (d == 0) h = 0;
  else if (mx == r) h = std::fmod((g - b) / d / 6.0 + 1.0, 1.0);
  else if (mx == g) h = ((b - r) / d + 2) / 6.0;
  else h = ((r - g) / d + 4) / 6.0;
}
inline void hsv_to_rgb(double h, double s, double v, double& r, double& g, double& b) {
  h = std::fmod(std::fmod(h, 1.0) + 1.0, 1.0) * 6.0;
  int i = int(h) % 6;
  double f = h - std::floor(h), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  const double tab[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  r = tab[i][0], g = tab[i][1], b = tab[i][2];
}

// Apply f(r, g, b) -> (r, g, b) in [0,1] float space to every pixel of an RGB image.
template <typename F>
void map_rgb(io::Image& img, F f) {
  for (size_t p = 0; p + 2 < img.pixels.size(); p += 3) {
    double r = img.pixels[p] / 255.0, g = img.pixels[p + 1] / 255.0, b = img.pixels[p + 2] / 255.0;
    f(r, g, b);
    img.pixels[p] = clamp_u8(r * 255), img.pixels[p + 1] = clamp_u8(g * 255), img.pixels[p + 2] = clamp_u8(b * 255);
  }
}
inline double luma(double r, double g, double b) { return 0.299 * r + 0.587 * g + 0.114 * b; }

// Per-channel lookup table applied to every pixel.
inline void apply_lut(io::Image& img, const std::array<std::array<uint8_t, 256>, 3>& lut) {
  for (size_t p = 0; p < img.pixels.size(); ++p) img.pixels[p] = lut[p % 3][img.pixels[p]];
}
}  // namespace onenip::detail

namespace onenip::data {

/// torchvision ColorJitter: factors b, c, s in [1-x, 1+x], hue shift in [-hue, hue] turns.
inline void color_jitter(io::Image& img, double brightness, double contrast, double saturation, double hue,
                         Generator& gen) {
  ONENIP_CHECK(img.channels == 3, "color_jitter: needs an RGB image, got ", img.channels, " channel(s)");
  std::array<int, 4> order{0, 1, 2, 3};
  for (int i = 3; i > 0; --i) std::swap(order[size_t(i)], order[size_t(gen.randint(0, i + 1))]);
  double fb = gen.uniform(std::max(0.0, 1 - brightness), 1 + brightness);
  double fc = gen.uniform(std::max(0.0, 1 - contrast), 1 + contrast);
  double fs = gen.uniform(std::max(0.0, 1 - saturation), 1 + saturation);
  double fh = gen.uniform(-hue, hue);
  for (int op : order) {
    if (op == 0) {
      detail::map_rgb(img, [&](double& r, double& g, double& b) { r *= fb, g *= fb, b *= fb; });
    } else if (op == 1) {  // blend with the mean grey level of the whole image
      double mean = 0;
      size_t n = img.pixels.size() / 3;
      for (size_t p = 0; p < img.pixels.size(); p += 3)
        mean += detail::luma(img.pixels[p], img.pixels[p + 1], img.pixels[p + 2]) / 255.0;
      mean /= double(std::max<size_t>(n, 1));
      detail::map_rgb(img, [&](double& r, double& g, double& b) {
        r = fc * r + (1 - fc) * mean, g = fc * g + (1 - fc) * mean, b = fc * b + (1 - fc) * mean;
      });
    } else if (op == 2) {  // blend with each pixel's grey
      detail::map_rgb(img, [&](double& r, double& g, double& b) {
        double y = detail::luma(r, g, b);
        r = fs * r + (1 - fs) * y, g = fs * g + (1 - fs) * y, b = fs * b + (1 - fs) * y;
      });
    } else {
      detail::map_rgb(img, [&](double& r, double& g, double& b) {
        double h, s, v;
        detail::rgb_to_hsv(r, g, b, h, s, v);
        detail::hsv_to_rgb(h + fh, s, v, r, g, b);
      });
    }
  }
}

// ---- the ten texture augmenters (imgaug defaults), each image -> image ----

inline void gamma_contrast(io::Image& img, Generator& gen) {  // gamma U(0.5, 2) per channel
  std::array<std::array<uint8_t, 256>, 3> lut{};
  for (auto& ch : lut) {
    double gamma = gen.uniform(0.5, 2.0);
    for (int v = 0; v < 256; ++v) ch[size_t(v)] = detail::clamp_u8(255.0 * std::pow(v / 255.0, gamma));
  }
  detail::apply_lut(img, lut);
}

inline void multiply_and_add_to_brightness(io::Image& img, Generator& gen) {  // on luma: Y*U(.8,1.2)+U(-30,30)
  double mul = gen.uniform(0.8, 1.2), add = gen.uniform(-30, 30) / 255.0;
  detail::map_rgb(img, [&](double& r, double& g, double& b) {
    double y = detail::luma(r, g, b), y2 = y * mul + add, d = y2 - y;
    r += d, g += d, b += d;
  });
}

inline void enhance_sharpness(io::Image& img, Generator& gen) {  // PIL: blend with 3x3 smooth, factor U(0,2)
  double f = gen.uniform(0.0, 2.0);
  io::Image smooth = img;
  for (int y = 1; y + 1 < img.height; ++y)
    for (int x = 1; x + 1 < img.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int s = 0;
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) s += img.at(y + dy, x + dx, c) * (dx == 0 && dy == 0 ? 5 : 1);
        smooth.at(y, x, c) = uint8_t((s + 6) / 13);
      }
  for (size_t p = 0; p < img.pixels.size(); ++p)
    img.pixels[p] = detail::clamp_u8(smooth.pixels[p] + f * (double(img.pixels[p]) - smooth.pixels[p]));
}

inline void add_to_hue_and_saturation(io::Image& img, Generator& gen) {  // each U(-50, 50) of 255
  double dh = gen.uniform(-50, 50) / 255.0, ds = gen.uniform(-50, 50) / 255.0;
  detail::map_rgb(img, [&](double& r, double& g, double& b) {
    double h, s, v;
    detail::rgb_to_hsv(r, g, b, h, s, v);
    detail::hsv_to_rgb(h + dh, std::clamp(s + ds, 0.0, 1.0), v, r, g, b);
  });
}

inline void solarize(io::Image& img, Generator& gen) {  // p 0.5: invert values above U(32, 128)
  double threshold = gen.uniform(32, 128);
  if (gen.uniform() >= 0.5) return;
  for (auto& v : img.pixels)
    if (v > threshold) v = uint8_t(255 - v);
}

inline void posterize(io::Image& img, Generator& gen) {  // keep randint[1, 8] high bits
  int bits = int(gen.randint(1, 9));
  uint8_t mask = uint8_t(0xff << (8 - bits));
  for (auto& v : img.pixels) v &= mask;
}

inline void flip_lr(io::Image& img, Generator& gen) {  // p 0.5
  if (gen.uniform() >= 0.5) return;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width / 2; ++x)
      for (int c = 0; c < img.channels; ++c) std::swap(img.at(y, x, c), img.at(y, img.width - 1 - x, c));
}

inline void invert(io::Image& img, Generator&) {
  for (auto& v : img.pixels) v = uint8_t(255 - v);
}

/// Per channel: drop `cutoff` percent of pixels at each end of the histogram, stretch the rest.
inline void autocontrast(io::Image& img, Generator& gen) {
  double cutoff = gen.uniform(0, 20) / 100.0;
  std::array<std::array<uint8_t, 256>, 3> lut{};
  size_t n = img.pixels.size() / 3;
  for (int c = 0; c < 3; ++c) {
    std::array<size_t, 256> hist{};
    for (size_t p = size_t(c); p < img.pixels.size(); p += 3) ++hist[img.pixels[p]];
    size_t cut = size_t(double(n) * cutoff), acc = 0;
    int lo = 0, hi = 255;
    while (lo < 255 && acc + hist[size_t(lo)] <= cut) acc += hist[size_t(lo++)];
    acc = 0;
    while (hi > 0 && acc + hist[size_t(hi)] <= cut) acc += hist[size_t(hi--)];
    for (int v = 0; v < 256; ++v)
      lut[size_t(c)][size_t(v)] = hi <= lo ? uint8_t(v) : detail::clamp_u8((v - lo) * 255.0 / (hi - lo));
  }
  detail::apply_lut(img, lut);
}

inline void equalize(io::Image& img, Generator&) {  // per-channel histogram equalisation
  std::array<std::array<uint8_t, 256>, 3> lut{};
  size_t n = img.pixels.size() / 3;
  for (int c = 0; c < 3; ++c) {
    std::array<size_t, 256> hist{};
    for (size_t p = size_t(c); p < img.pixels.size(); p += 3) ++hist[img.pixels[p]];
    size_t acc = 0;
    for (int v = 0; v < 256; ++v) {
      acc += hist[size_t(v)];
      lut[size_t(c)][size_t(v)] = detail::clamp_u8(255.0 * double(acc) / double(std::max<size_t>(n, 1)));
    }
  }
  detail::apply_lut(img, lut);
}

/// Three distinct augmenters out of the ten, in the drawn order.
inline void augment_texture(io::Image& img, Generator& gen) {
  ONENIP_CHECK(img.channels == 3, "augment_texture: needs an RGB image, got ", img.channels, " channel(s)");
  using Aug = void (*)(io::Image&, Generator&);
  std::array<Aug, 10> all{gamma_contrast, multiply_and_add_to_brightness, enhance_sharpness,
                          add_to_hue_and_saturation, solarize, posterize, flip_lr, invert, autocontrast, equalize};
  std::array<int, 10> idx;
  std::iota(idx.begin(), idx.end(), 0);
  for (int i = 0; i < 3; ++i) {
    std::swap(idx[size_t(i)], idx[size_t(gen.randint(i, 10))]);
    all[size_t(idx[size_t(i)])](img, gen);
  }
}

}  // namespace onenip::data

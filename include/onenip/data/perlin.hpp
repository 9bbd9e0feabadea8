/// \file
/// 2-D Perlin noise (the DRAEM generator the authors use; docs/onenip.md, section 4), and
/// fractal (multi-octave) Perlin for texture generation. Maps are H x W row-major floats.
#pragma once

#include <cmath>
#include <vector>

#include "../random.hpp"

namespace onenip::data {

struct FloatMap {
  int height = 0, width = 0;
  std::vector<float> values;  ///< [H, W]
  FloatMap() = default;
  FloatMap(int h, int w, float fill = 0) : height(h), width(w), values(size_t(h) * size_t(w), fill) {}
  float& at(int y, int x) { return values[size_t(y) * size_t(width) + size_t(x)]; }
  float at(int y, int x) const { return values[size_t(y) * size_t(width) + size_t(x)]; }
};

/// Classic gradient noise on a (res_y + 1) x (res_x + 1) lattice of random unit gradients
/// (angles U[0, 2 pi)), quintic fade 6t^5 - 15t^4 + 10t^3, bilinear blend, scaled by sqrt(2):
/// values lie roughly in [-1, 1].
inline FloatMap perlin_noise(int height, int width, int res_y, int res_x, Generator& gen) {
  std::vector<float> gx(size_t((res_y + 1) * (res_x + 1))), gy(gx.size());
  for (size_t i = 0; i < gx.size(); ++i) {
    double a = 6.283185307179586 * gen.uniform();
    gx[i] = float(std::cos(a));
    gy[i] = float(std::sin(a));
  }
  auto fade = [](float t) { return t * t * t * (t * (t * 6 - 15) + 10); };
  FloatMap out(height, width);
  for (int y = 0; y < height; ++y) {
    float fy = float(y) * float(res_y) / float(height);
    int cy = std::min(int(fy), res_y - 1);
    float ty = fy - float(cy);
    for (int x = 0; x < width; ++x) {
      float fx = float(x) * float(res_x) / float(width);
      int cx = std::min(int(fx), res_x - 1);
      float tx = fx - float(cx);
      auto dot = [&](int oy, int ox) {
        size_t g = size_t((cy + oy) * (res_x + 1) + cx + ox);
        return gy[g] * (ty - float(oy)) + gx[g] * (tx - float(ox));
      };
      float n00 = dot(0, 0), n10 = dot(1, 0), n01 = dot(0, 1), n11 = dot(1, 1);
      float u = fade(ty), v = fade(tx);
      float a = n00 + u * (n10 - n00), b = n01 + u * (n11 - n01);
      out.at(y, x) = 1.41421356f * (a + v * (b - a));
    }
  }
  return out;
}

/// Sum of `octaves` Perlin layers, each at twice the frequency and `persistence` times the amplitude.
inline FloatMap fractal_perlin(int height, int width, int res, int octaves, float persistence, Generator& gen) {
  FloatMap out(height, width);
  float amp = 1;
  for (int o = 0; o < octaves; ++o, res *= 2, amp *= persistence) {
    FloatMap layer = perlin_noise(height, width, res, res, gen);
    for (size_t i = 0; i < out.values.size(); ++i) out.values[i] += amp * layer.values[i];
  }
  return out;
}

/// Rotate a map by `degrees` about its centre, bilinear, zero outside (imgaug Affine(rotate)).
inline FloatMap rotate_bilinear(const FloatMap& in, double degrees) {
  FloatMap out(in.height, in.width);
  double th = degrees * 3.141592653589793 / 180.0, c = std::cos(th), s = std::sin(th);
  double cy = (in.height - 1) / 2.0, cx = (in.width - 1) / 2.0;
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < in.width; ++x) {
      // inverse map: source = R^-1 (dest - centre) + centre
      double sx = c * (x - cx) + s * (y - cy) + cx, sy = -s * (x - cx) + c * (y - cy) + cy;
      int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
      double fx = sx - x0, fy = sy - y0, acc = 0;
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          int xx = x0 + dx, yy = y0 + dy;
          if (xx < 0 || yy < 0 || xx >= in.width || yy >= in.height) continue;
          acc += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * in.at(yy, xx);
        }
      out.at(y, x) = float(acc);
    }
  return out;
}

}  // namespace onenip::data

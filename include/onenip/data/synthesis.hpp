/// \file
/// Anomaly synthesis for the restoration stream (paper section 3.3; docs/onenip.md, section 4).
/// From a normal S x S RGB image, make a synthetic anomaly and its mask (0/255, same size):
///   p = 0.5: CutPaste (half plain, half scar), p = 0.5: Perlin-noise blend of a texture.
/// Every choice draws from the caller's Generator, so a seed fixes the result.
#pragma once

#include "augment.hpp"
#include "textures.hpp"

namespace onenip::data {

struct Synthetic {
  io::Image image;  ///< S x S x 3
  io::Image mask;   ///< S x S x 1, 0 or 255
  std::string kind; ///< "cutpaste", "scar" or "perlin"
};

}  // namespace onenip::data

namespace onenip::detail {
inline io::Image crop(const io::Image& src, int x0, int y0, int w, int h) {
  io::Image out(w, h, src.channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < src.channels; ++c) out.at(y, x, c) = src.at(y0 + y, x0 + x, c);
  return out;
}
inline void check_rgb_square(const io::Image& img, const char* who) {
  ONENIP_CHECK(img.channels == 3 && img.width == img.height && img.width >= 32, who,
               ": needs a square RGB image of at least 32 px, got ", img.width, " x ", img.height, " x ",
               img.channels);
}
}  // namespace onenip::detail

namespace onenip::data {

/// CutPaste: a jittered rectangle of area U(2%, 15%) of the image and aspect from U(0.3,1) or
/// U(1,3.3), cut at one place and pasted at another.
inline Synthetic cutpaste(const io::Image& img, Generator& gen) {
  detail::check_rgb_square(img, "cutpaste");
  const int S = img.width;
  double area = gen.uniform(0.02, 0.15) * S * S;
  double aspect = gen.uniform() < 0.5 ? gen.uniform(0.3, 1.0) : gen.uniform(1.0, 3.3);
  int w = std::clamp(int(std::sqrt(area * aspect)), 1, S), h = std::clamp(int(std::sqrt(area / aspect)), 1, S);
  int fx = int(gen.randint(0, S - w + 1)), fy = int(gen.randint(0, S - h + 1));
  int tx = int(gen.randint(0, S - w + 1)), ty = int(gen.randint(0, S - h + 1));
  io::Image patch = detail::crop(img, fx, fy, w, h);
  color_jitter(patch, 0.4, 0.4, 0.4, 0.1, gen);
  Synthetic out{img, io::Image(S, S, 1), "cutpaste"};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) out.image.at(ty + y, tx + x, c) = patch.at(y, x, c);
      out.mask.at(ty + y, tx + x) = 255;
    }
  return out;
}

/// CutPaste-Scar: a thin jittered patch (w 2..16, h 10..25) rotated by U(-45, 45) degrees
/// (nearest, canvas expanded); its footprint is the mask. Placement bounds use the unrotated
/// size, so the rotated patch may be clipped at the right/bottom border, as in the authors' code.
inline Synthetic cutpaste_scar(const io::Image& img, Generator& gen) {
  detail::check_rgb_square(img, "cutpaste_scar");
  const int S = img.width;
  int w = int(gen.randint(2, 17)), h = int(gen.randint(10, 26));
  int fx = int(gen.randint(0, S - w + 1)), fy = int(gen.randint(0, S - h + 1));
  io::Image patch = detail::crop(img, fx, fy, w, h);
  color_jitter(patch, 0.4, 0.4, 0.4, 0.1, gen);
  double th = gen.uniform(-45, 45) * 3.141592653589793 / 180.0, c = std::cos(th), s = std::sin(th);
  // expanded canvas holding the rotated rectangle
  int W2 = int(std::ceil(std::abs(w * c) + std::abs(h * s))), H2 = int(std::ceil(std::abs(w * s) + std::abs(h * c)));
  int tx = int(gen.randint(0, S - w + 1)), ty = int(gen.randint(0, S - h + 1));
  Synthetic out{img, io::Image(S, S, 1), "scar"};
  double cx = w / 2.0, cy = h / 2.0, cx2 = W2 / 2.0, cy2 = H2 / 2.0;
  for (int y = 0; y < H2; ++y)
    for (int x = 0; x < W2; ++x) {
      // nearest source pixel of the inverse rotation about the centres
      double dx = x + 0.5 - cx2, dy = y + 0.5 - cy2;
      int sx = int(std::floor(c * dx + s * dy + cx)), sy = int(std::floor(-s * dx + c * dy + cy));
      if (sx < 0 || sy < 0 || sx >= w || sy >= h) continue;
      int X = tx + x, Y = ty + y;
      if (X >= S || Y >= S) continue;  // clipped at the border
      for (int k = 0; k < 3; ++k) out.image.at(Y, X, k) = patch.at(sy, sx, k);
      out.mask.at(Y, X) = 255;
    }
  return out;
}

/// Perlin paste (DRAEM-style): threshold rotated Perlin noise at 0.5 for the mask m, then
/// out = img (1 - m) + (1 - beta) tex m + beta img m with beta = U(0, 0.8).
inline Synthetic perlin_paste(const io::Image& img, const TextureSource& textures, Generator& gen) {
  detail::check_rgb_square(img, "perlin_paste");
  const int S = img.width;
  io::Image tex = textures.sample(S, gen);
  augment_texture(tex, gen);
  int ry = 1 << int(gen.randint(1, 6)), rx = 1 << int(gen.randint(1, 6));  // 2..32 per axis
  FloatMap noise = rotate_bilinear(perlin_noise(S, S, ry, rx, gen), gen.uniform(-5, 5));
  double beta = gen.uniform() * 0.8;
  Synthetic out{img, io::Image(S, S, 1), "perlin"};
  for (int y = 0; y < S; ++y)
    for (int x = 0; x < S; ++x) {
      if (noise.at(y, x) <= 0.5f) continue;
      for (int c = 0; c < 3; ++c)
        out.image.at(y, x, c) = uint8_t((1 - beta) * tex.at(y, x, c) + beta * img.at(y, x, c));  // truncates
      out.mask.at(y, x) = 255;
    }
  return out;
}

/// The authors' hybrid: CutPaste (plain or scar, evenly) with probability 0.5, else Perlin.
inline Synthetic synthesize_anomaly(const io::Image& img, const TextureSource& textures, Generator& gen) {
  if (gen.uniform() > 0.5) return gen.uniform() < 0.5 ? cutpaste(img, gen) : cutpaste_scar(img, gen);
  return perlin_paste(img, textures, gen);
}

}  // namespace onenip::data

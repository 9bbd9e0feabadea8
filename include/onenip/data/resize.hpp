/// \file
/// Resizing 8-bit images the way PIL's Image.resize does, bit for bit (the authors' code resizes
/// with torchvision Resize on PIL images: BILINEAR for images, NEAREST for masks).
/// resize_image is the BILINEAR one, resize_mask the NEAREST one; resize_bilinear and
/// resize_nearest in ops/resize.hpp are different things, F.interpolate on float tensors.
///
/// BILINEAR is PIL's separable resampling (libImaging/Resample.c): a triangle filter whose
/// support grows with the downsampling factor (so shrinking averages, i.e. antialiases),
/// coefficients in 22-bit fixed point, one pass per axis, each rounded to uint8. Which axis
/// goes first changes the result by at most 1 grey level: older Pillow releases always ran the
/// horizontal pass first; Pillow 13 (checked against 13.0) runs the vertical pass first when the
/// height loses more than twice as many pixels as the width (never for a square image made square).
/// NEAREST takes source pixel floor((i + 0.5) * in / out), accumulated as PIL does.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../io/image.hpp"

namespace onenip::detail {

constexpr int kPilPrecisionBits = 32 - 8 - 2;

// Filter taps for resampling a line of in_size pixels to out_size: output i reads `count[i]`
// pixels from `first[i]` with weights coeff[i * ksize + j] (fixed point).
struct ResampleTaps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> coeff;
};

inline ResampleTaps pil_bilinear_taps(int in_size, int out_size) {
  ResampleTaps t;
  double scale = double(float(in_size)) / out_size;  // PIL: (in1 - in0) / out with a float box
  double filterscale = std::max(scale, 1.0);
  double support = 1.0 * filterscale;  // the triangle filter has support 1
  t.ksize = int(std::ceil(support)) * 2 + 1;
  t.first.resize(size_t(out_size));
  t.count.resize(size_t(out_size));
  t.coeff.assign(size_t(out_size) * size_t(t.ksize), 0);
  std::vector<double> w(size_t(t.ksize));
  const double ss = 1.0 / filterscale;  // PIL multiplies by the reciprocal; keep it for bit parity
  for (int i = 0; i < out_size; ++i) {
    double center = (i + 0.5) * scale;
    int lo = std::max(int(center - support + 0.5), 0);
    int n = std::min(int(center + support + 0.5), in_size) - lo;
    double total = 0;
    for (int j = 0; j < n; ++j) {
      double x = std::abs((j + lo - center + 0.5) * ss);
      w[size_t(j)] = x < 1.0 ? 1.0 - x : 0.0;
      total += w[size_t(j)];
    }
    for (int j = 0; j < n; ++j) {
      double v = total != 0.0 ? w[size_t(j)] / total : w[size_t(j)];
      t.coeff[size_t(i) * t.ksize + j] =
          int32_t(v < 0 ? -0.5 + v * (1 << kPilPrecisionBits) : 0.5 + v * (1 << kPilPrecisionBits));
    }
    t.first[size_t(i)] = lo;
    t.count[size_t(i)] = n;
  }
  return t;
}

inline uint8_t pil_clip8(int32_t acc) { return uint8_t(std::clamp(acc >> kPilPrecisionBits, 0, 255)); }

// Horizontal pass with the channel count fixed at compile time, so the C sums of one output
// pixel run together.
template <int C>
void pil_horizontal(const uint8_t* src, int W, int H, const ResampleTaps& t, int out_len, uint8_t* dst) {
  for (int y = 0; y < H; ++y)
    for (int i = 0; i < out_len; ++i) {
      const int32_t* k = &t.coeff[size_t(i) * t.ksize];
      const uint8_t* s = src + (size_t(y) * W + t.first[size_t(i)]) * C;
      int32_t acc[C];
      for (int c = 0; c < C; ++c) acc[c] = 1 << (kPilPrecisionBits - 1);
      for (int j = 0; j < t.count[size_t(i)]; ++j)
        for (int c = 0; c < C; ++c) acc[c] += int32_t(s[size_t(j) * C + c]) * k[j];
      for (int c = 0; c < C; ++c) dst[(size_t(y) * out_len + i) * C + c] = pil_clip8(acc[c]);
    }
}

// Vertical pass: whole rows are weighted and summed, which vectorises.
inline void pil_vertical(const uint8_t* src, size_t row, const ResampleTaps& t, int out_len, uint8_t* dst) {
  std::vector<int32_t> acc(row);
  for (int i = 0; i < out_len; ++i) {
    std::fill(acc.begin(), acc.end(), 1 << (kPilPrecisionBits - 1));
    const int32_t* k = &t.coeff[size_t(i) * t.ksize];
    for (int j = 0; j < t.count[size_t(i)]; ++j) {
      const uint8_t* s = src + size_t(t.first[size_t(i)] + j) * row;
      const int32_t kj = k[j];
      for (size_t e = 0; e < row; ++e) acc[e] += int32_t(s[e]) * kj;
    }
    for (size_t e = 0; e < row; ++e) dst[size_t(i) * row + e] = pil_clip8(acc[e]);
  }
}

// One pass along rows (horizontal = true: width changes) or columns (height changes).
inline io::Image pil_resample_pass(const io::Image& in, int out_len, bool horizontal) {
  const int C = in.channels, W = in.width, H = in.height;
  ResampleTaps t = pil_bilinear_taps(horizontal ? W : H, out_len);
  io::Image out(horizontal ? out_len : W, horizontal ? H : out_len, C);
  if (!horizontal)
    pil_vertical(in.pixels.data(), size_t(W) * C, t, out_len, out.pixels.data());
  else if (C == 3)
    pil_horizontal<3>(in.pixels.data(), W, H, t, out_len, out.pixels.data());
  else
    pil_horizontal<1>(in.pixels.data(), W, H, t, out_len, out.pixels.data());
  return out;
}

// Source index of each output pixel for PIL NEAREST: floor(a/2 + i*a), a = in/out, summed up
// step by step in double as PIL does (the sum can differ from the product in the last bit).
inline std::vector<int> pil_nearest_index(int in_size, int out_size) {
  std::vector<int> idx(static_cast<size_t>(out_size));
  double a = double(float(in_size)) / out_size, pos = a * 0.5;
  for (int i = 0; i < out_size; ++i, pos += a) idx[size_t(i)] = std::clamp(int(pos), 0, in_size - 1);
  return idx;
}

inline void check_resize(const io::Image& im, int width, int height, const char* who) {
  ONENIP_CHECK(width > 0 && height > 0, who, ": target size must be positive, got ", width, " x ", height);
  ONENIP_CHECK(im.width > 0 && im.height > 0, who, ": the image is empty (", im.width, " x ", im.height, ")");
  ONENIP_CHECK(im.pixels.size() == size_t(im.width) * im.height * im.channels, who, ": ", im.pixels.size(),
               " pixel bytes do not match ", im.width, " x ", im.height, " x ", im.channels);
}

}  // namespace onenip::detail

namespace onenip::data {

using io::Image;

/// The order of PIL's two bilinear passes (see the top of this file).
enum class PassOrder {
  pillow13,          ///< vertical first when the height shrinks by more than twice the width's loss
  horizontal_first,  ///< older Pillow releases: always the horizontal pass first
};

/// PIL Image.resize((width, height), BILINEAR): antialiased when shrinking.
inline Image resize_image(const Image& im, int width, int height, PassOrder order = PassOrder::pillow13) {
  detail::check_resize(im, width, height, "resize_image");
  const int dh = im.height - height, dw = im.width - width;
  const bool vertical_first = order == PassOrder::pillow13 && dh > 0 && dh > 2 * dw;
  Image out = im;  // a side that keeps its length is not resampled (PIL skips that pass)
  if (vertical_first && height != im.height) out = detail::pil_resample_pass(out, height, false);
  if (width != im.width) out = detail::pil_resample_pass(out, width, true);
  if (!vertical_first && height != im.height) out = detail::pil_resample_pass(out, height, false);
  return out;
}

/// PIL Image.resize((width, height), NEAREST): for masks, never mixes values (any 8-bit image works).
inline Image resize_mask(const Image& im, int width, int height) {
  detail::check_resize(im, width, height, "resize_mask");
  std::vector<int> xs = detail::pil_nearest_index(im.width, width), ys = detail::pil_nearest_index(im.height, height);
  Image out(width, height, im.channels);
  const int C = im.channels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < C; ++c) out.at(y, x, c) = im.at(ys[size_t(y)], xs[size_t(x)], c);
  return out;
}

}  // namespace onenip::data

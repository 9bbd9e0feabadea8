/// \file
/// From 8-bit images to the float tensors the model eats (docs/onenip.md, section 1):
///   image -> resize_image    to S x S -> [C, H, W] float, x/255 normalised per channel
///   mask  -> resize_mask     to S x S -> [1, H, W] float in {0, 1} (> 0 -> 1)
///   N of them -> [N, C, H, W]
#pragma once

#include <string>
#include <vector>

#include "../models/normalization.hpp"
#include "../ops/join.hpp"
#include "resize.hpp"

namespace onenip::data {

/// The backbone's normalisation (models/normalization.hpp), applied here.
using Normalization = models::Normalization;

}  // namespace onenip::data

namespace onenip::detail {

// Writes the image as [C, H, W] into dst.
template <typename T>
void write_chw(const io::Image& im, const data::Normalization& norm, T* dst) {
  const int C = im.channels;
  ONENIP_CHECK(im.pixels.size() == size_t(im.width) * im.height * C && C >= 1, "image_to_tensor: ", im.pixels.size(),
               " pixel bytes do not match ", im.width, " x ", im.height, " x ", C);
  auto per_channel = [&](const std::vector<double>& v, const char* name) {
    ONENIP_CHECK(v.size() == 1 || v.size() == size_t(C), "image_to_tensor: normalisation ", name, " has ", v.size(),
                 " values for an image with ", C, " channel(s) (load images with channels = 3 for a backbone)");
  };
  per_channel(norm.mean, "mean");
  per_channel(norm.std, "std");
  const size_t plane = size_t(im.width) * im.height;
  for (int c = 0; c < C; ++c) {
    double m = norm.mean[norm.mean.size() == 1 ? 0 : size_t(c)], s = norm.std[norm.std.size() == 1 ? 0 : size_t(c)];
    ONENIP_CHECK(s != 0.0, "image_to_tensor: normalisation std of channel ", c, " is zero");
    // A table of the 256 possible values, computed in double and rounded once.
    T lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = T((v / 255.0 - m) / s);
    const uint8_t* p = im.pixels.data() + c;
    T* d = dst + size_t(c) * plane;
    for (size_t i = 0; i < plane; ++i) d[i] = lut[p[i * size_t(C)]];
  }
}

}  // namespace onenip::detail

namespace onenip::data {

/// [C, H, W] float tensor of a uint8 image.
template <typename T>
Tensor<T> image_to_tensor(const Image& im, const Normalization& norm) {
  Tensor<T> out = Tensor<T>::empty({im.channels, im.height, im.width});
  detail::write_chw(im, norm, out.data());
  return out;
}

/// [1, H, W] tensor in {0, 1} of a grey mask: any non-zero pixel is 1.
template <typename T>
Tensor<T> mask_to_tensor(const Image& mask) {
  ONENIP_CHECK(mask.channels == 1, "mask_to_tensor: a mask must have 1 channel, got ", mask.channels,
               " (load masks with channels = 1)");
  Tensor<T> out = Tensor<T>::empty({1, mask.height, mask.width});
  T* d = out.data();
  for (size_t i = 0; i < mask.pixels.size(); ++i) d[i] = mask.pixels[i] ? T(1) : T(0);
  return out;
}

/// The reference's image pipeline: PIL bilinear to size x size, then normalise. [C, S, S]
template <typename T>
Tensor<T> prepare_image(const Image& im, int size, const Normalization& norm, PassOrder order = PassOrder::pillow13) {
  return image_to_tensor<T>(resize_image(im, size, size, order), norm);
}

/// The reference's mask pipeline: PIL nearest to size x size, then {0, 1}. [1, S, S]
template <typename T>
Tensor<T> prepare_mask(const Image& mask, int size) {
  return mask_to_tensor<T>(resize_mask(mask, size, size));
}

/// [C, H, W] x N -> [N, C, H, W]; all must have one shape.
template <typename T>
Tensor<T> make_batch(const std::vector<Tensor<T>>& items) {
  ONENIP_CHECK(!items.empty(), "make_batch: no tensors given");
  for (size_t i = 0; i < items.size(); ++i)
    ONENIP_CHECK(items[i].dim() == 3 && items[i].shape() == items[0].shape(), "make_batch: item ", i, " has shape ",
                 shape_str(items[i].shape()), ", item 0 has ", shape_str(items[0].shape()),
                 " (each must be [C, H, W])");
  return stack(items, 0);
}

/// N images of one size -> [N, C, H, W] normalised, without intermediate tensors.
template <typename T>
Tensor<T> images_to_batch(const std::vector<Image>& ims, const Normalization& norm) {
  ONENIP_CHECK(!ims.empty(), "images_to_batch: no images given");
  const Image& a = ims[0];
  for (size_t i = 0; i < ims.size(); ++i)
    ONENIP_CHECK(ims[i].width == a.width && ims[i].height == a.height && ims[i].channels == a.channels,
                 "images_to_batch: image ", i, " is ", ims[i].width, " x ", ims[i].height, " x ", ims[i].channels,
                 ", image 0 is ", a.width, " x ", a.height, " x ", a.channels, " (resize them first)");
  Tensor<T> out = Tensor<T>::empty({int64_t(ims.size()), a.channels, a.height, a.width});
  const size_t per = size_t(a.channels) * a.height * a.width;
  for (size_t i = 0; i < ims.size(); ++i) detail::write_chw(ims[i], norm, out.data() + i * per);
  return out;
}

}  // namespace onenip::data

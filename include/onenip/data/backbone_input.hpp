/// \file
/// Images from disk to a backbone's input batch: decode (PNG, JPEG, BMP; grey becomes RGB),
/// resize to S x S with PIL's antialiased bilinear filter (as the reference), normalise with the
/// backbone's statistics -> [N, 3, S, S].
#pragma once

#include <string>
#include <vector>

#include "../io/image.hpp"
#include "../models/feature_extractor.hpp"
#include "transforms.hpp"

namespace onenip::data {

/// Errors name the file that cannot be read or decoded.
template <typename T>
Tensor<T> load_backbone_batch(const std::vector<std::string>& paths, int size, const models::Normalization& norm) {
  ONENIP_CHECK(!paths.empty(), "load_backbone_batch: no image paths given");
  ONENIP_CHECK(size >= 16 && size % 16 == 0, "load_backbone_batch: the image size must be a positive multiple of 16 ",
               "(224, 256 and 320 are the usual ones), got ", size);
  std::vector<Image> ims;
  ims.reserve(paths.size());
  for (const auto& p : paths) ims.push_back(resize_image(io::load_image(p, 3), size, size));
  return images_to_batch<T>(ims, norm);
}

}  // namespace onenip::data

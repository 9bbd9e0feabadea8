/// \file
/// What dataset discovery produces: per class, the training and test images with their labels
/// and masks. Paths are as found on disk (the folder given + the relative part).
#pragma once

#include <string>
#include <vector>

#include "../io/image.hpp"

namespace onenip::data {

struct Sample {
  std::string image;  ///< path of the image file
  /// Path of the mask (0 = normal, > 0 = defect), or empty: no defect for label 0; for label 1
  /// (only from JSON meta without "maskname") the whole image counts as defective, as in the reference.
  std::string mask;
  int label = 0;       ///< 0 normal, 1 defective
  std::string defect;  ///< "good" for normal images, else the defect type (usually its folder name)
  std::string cls;     ///< class name
};

struct ClassData {
  std::string name;    ///< class name (folder name, VisA "object", JSON "clsname")
  std::string root;    ///< where it was found
  std::string layout;  ///< "mvtec", "btad", "visa" or "jsonl"
  std::vector<Sample> train, test;
};

/// The sample's mask as a grey image of its image's size (> 0: defect): read from disk
/// (io::load_mask), or made (all 0, or all 255 for a defective image without a mask file). A mask
/// file of another size than its image is refused: stretching it would score the wrong pixels.
inline io::Image load_mask(const Sample& s, int width, int height) {
  if (s.mask.empty()) return io::Image(width, height, 1, s.label ? 255 : 0);
  io::Image m = io::load_mask(s.mask);
  ONENIP_CHECK(m.width == width && m.height == height, "dataset: mask '", s.mask, "' is ", m.width, " x ", m.height,
               " but its image '", s.image, "' is ", width, " x ", height, "; a mask must have its image's size");
  return m;
}

}  // namespace onenip::data

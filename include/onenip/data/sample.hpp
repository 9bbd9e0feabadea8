// What dataset discovery produces: per class, the training and test images with their labels
// and masks. Paths are as found on disk (the folder given + the relative part).
#pragma once

#include <string>
#include <vector>

#include "../io/image.hpp"

namespace onenip::data {

struct Sample {
  std::string image;  // path of the image file
  // Path of the mask (0 = normal, > 0 = defect), or empty: no defect for label 0; for label 1
  // (only from JSON meta without "maskname") the whole image counts as defective, as in the reference.
  std::string mask;
  int label = 0;       // 0 normal, 1 defective
  std::string defect;  // "good" for normal images, else the defect type (usually its folder name)
  std::string cls;     // class name
};

struct ClassData {
  std::string name;    // class name (folder name, VisA "object", JSON "clsname")
  std::string root;    // where it was found
  std::string layout;  // "mvtec", "btad", "visa" or "jsonl"
  std::vector<Sample> train, test;
};

// The sample's mask as a grey image: read from disk, or made (all 0, or all 255 for a defective
// image without a mask file) at the image's size.
inline io::Image load_mask(const Sample& s, int width, int height) {
  if (!s.mask.empty()) return io::load_image(s.mask, 1);
  return io::Image(width, height, 1, s.label ? 255 : 0);
}

}  // namespace onenip::data

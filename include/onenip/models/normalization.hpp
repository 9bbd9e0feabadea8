/// \file
/// A backbone's input normalisation, shared by the backbones (which declare theirs) and the data
/// pipeline (which applies it when it turns 8-bit images into tensors).
#pragma once

#include <vector>

namespace onenip::models {

/// y = (x / 255 - mean[c]) / std[c]. One value in mean/std applies to every channel.
struct Normalization {
  std::vector<double> mean{0.0}, std{1.0};

  /// EfficientNet, as the authors feed it: torchvision ToTensor + Normalize with the ImageNet statistics.
  static Normalization imagenet() { return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}; }
  /// MobileNetV2 (timm, Inception-style): x / 127.5 - 1.
  static Normalization mobilenet_v2() { return {{0.5}, {0.5}}; }
  /// ToTensor alone: x / 255.
  static Normalization unit() { return {{0.0}, {1.0}}; }
};

}  // namespace onenip::models

/// \file
/// The frozen feature extractors by name: "mobilenetv2" (timm names, the weights in
/// ../shared/weights) and "efficientnet-b4" (efficientnet_pytorch names, the paper's backbone).
/// The interface is in feature_extractor.hpp; docs/backbones.md says where the weights come from.
#pragma once

#include <filesystem>
#include <memory>

#include "efficientnet.hpp"
#include "mobilenetv2.hpp"
#include "pattern_weights.hpp"

namespace onenip::models {

inline std::vector<std::string> feature_extractor_names() { return {"mobilenetv2", "efficientnet-b4"}; }

/// The extractor `name`, its weights read from the safetensors file `weights_path`.
template <typename T>
std::unique_ptr<FeatureExtractor<T>> make_feature_extractor(const std::string& name, const std::string& weights_path,
                                                            BackboneOptions opt = {}) {
  const bool mnv2 = name == "mobilenetv2", b4 = name == "efficientnet-b4";
  ONENIP_CHECK(mnv2 || b4, "unknown backbone '", name, "' (known: mobilenetv2, efficientnet-b4)");
  ONENIP_CHECK(std::filesystem::is_regular_file(weights_path), "backbone ", name, ": weights file '", weights_path,
               "' does not exist or is not a file",
               b4 ? " (docs/backbones.md says how to get and convert the EfficientNet-b4 ImageNet weights)" : "");
  if (mnv2) return std::make_unique<MobileNetV2<T>>(MobileNetV2<T>::from_file(weights_path, opt));
  return std::make_unique<EfficientNet<T>>(EfficientNet<T>::from_file(weights_path, opt));
}

/// The extractor `name` with deterministic stand-in weights (models/pattern_weights.hpp) instead
/// of pretrained ones: for demos and tests on machines without the weights file.
template <typename T>
std::unique_ptr<FeatureExtractor<T>> make_untrained_feature_extractor(const std::string& name) {
  if (name == "mobilenetv2")
    return std::make_unique<MobileNetV2<T>>(pattern_state_dict<T>(MobileNetV2<T>::state_dict_spec()));
  ONENIP_CHECK(name == "efficientnet-b4", "unknown backbone '", name, "' (known: mobilenetv2, efficientnet-b4)");
  return std::make_unique<EfficientNet<T>>(pattern_state_dict<T>(EfficientNet<T>::state_dict_spec()));
}

/// Pretrained from `weights_path`, or the stand-in weights when it is empty.
template <typename T>
std::unique_ptr<FeatureExtractor<T>> make_backbone(const std::string& name, const std::string& weights_path) {
  return weights_path.empty() ? make_untrained_feature_extractor<T>(name) : make_feature_extractor<T>(name, weights_path);
}

}  // namespace onenip::models

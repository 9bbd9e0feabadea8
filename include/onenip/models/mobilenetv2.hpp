/// \file
/// MobileNetV2 1.0 with TensorFlow "same" padding and ReLU6, reading timm's `mobilenetv2_100`
/// tensor names (docs/backbones.md says where the weights come from): the pretrained backbone.
///
///   stem   conv_stem 3x3 s2 -> 32, bn1, relu6
///   stages (repeats, first stride, out channels, expansion):
///          (1,1,16,1) (2,2,24,6) (3,2,32,6) (4,2,64,6) (3,1,96,6) (3,2,160,6) (1,1,320,6)
///          block blocks.S.J: conv_pw 1x1 + bn1 + relu6 -> conv_dw 3x3 + bn2 + relu6 -> conv_pwl 1x1
///          + bn3, + input when stride 1 and in == out; stage 0 has no expansion (conv_dw + bn1 +
///          relu6 -> conv_pw + bn2)
///   head   conv_head 1x1 -> 1280, bn2, relu6, global average pool, classifier -> 1001 (0 = background)
/// Taps: outputs of stages 0, 1, 2, 4 (16/24/32/96 channels at strides 2/4/8/16); input RGB in
/// [-1, 1] (x / 127.5 - 1). Padding is computed from the actual input size.
#pragma once

#include "../ops/matmul.hpp"
#include "blocks.hpp"
#include "feature_extractor.hpp"

namespace onenip::models {

template <typename T>
class MobileNetV2 : public FeatureExtractor<T> {
public:
  static constexpr int64_t kClasses = 1001;
  static constexpr int64_t kHeadChannels = 1280;

  /// (repeats, first stride, out channels, expansion) per stage.
  struct Stage {
    int64_t repeats, stride, out, expand;
  };
  static std::vector<Stage> stages() {
    return {{1, 1, 16, 1}, {2, 2, 24, 6}, {3, 2, 32, 6}, {4, 2, 64, 6}, {3, 1, 96, 6}, {3, 2, 160, 6}, {1, 1, 320, 6}};
  }

  /// Every block, stage by stage.
  static std::vector<std::vector<InvertedResidualDesc>> block_descs() {
    std::vector<std::vector<InvertedResidualDesc>> out;
    int64_t cin = 32;
    int64_t si = 0;
    for (const Stage& st : stages()) {
      std::vector<InvertedResidualDesc> blocks;
      for (int64_t j = 0; j < st.repeats; ++j, cin = st.out) {
        const std::string p = "blocks." + std::to_string(si) + "." + std::to_string(j) + ".";
        const int64_t stride = j == 0 ? st.stride : 1, mid = cin * st.expand;
        InvertedResidualDesc b;
        if (st.expand == 1) {
          b.depthwise = {p + "conv_dw", p + "bn1", cin, cin, 3, stride, true, Activation::ReLU6};
          b.project = {p + "conv_pw", p + "bn2", cin, st.out, 1, 1, false, Activation::None};
        } else {
          b.expand = ConvBNDesc{p + "conv_pw", p + "bn1", cin, mid, 1, 1, false, Activation::ReLU6};
          b.depthwise = {p + "conv_dw", p + "bn2", mid, mid, 3, stride, true, Activation::ReLU6};
          b.project = {p + "conv_pwl", p + "bn3", mid, st.out, 1, 1, false, Activation::None};
        }
        b.residual = stride == 1 && cin == st.out;
        blocks.push_back(b);
      }
      out.push_back(std::move(blocks));
      ++si;
    }
    return out;
  }
  static ConvBNDesc stem_desc() { return {"conv_stem", "bn1", 3, 32, 3, 2, false, Activation::ReLU6}; }
  static ConvBNDesc head_desc() { return {"conv_head", "bn2", 320, kHeadChannels, 1, 1, false, Activation::ReLU6}; }

  /// The 262 tensors of the weights file, all required.
  static std::vector<TensorSpec> state_dict_spec() {
    std::vector<TensorSpec> spec;
    stem_desc().add_specs(spec, true);
    for (const auto& stage : block_descs())
      for (const auto& b : stage) b.add_specs(spec, true);
    head_desc().add_specs(spec, true);
    spec.push_back({"classifier.weight", {kClasses, kHeadChannels}, true});
    spec.push_back({"classifier.bias", {kClasses}, true});
    return spec;
  }

  /// From a state dict (checked strictly: every tensor, no extra, right shapes).
  explicit MobileNetV2(const StateDict<T>& sd, BackboneOptions opt = {}, const std::string& origin = "the state dict")
      : folded_(opt.fold_bn) {
    check_state_dict(sd, state_dict_spec(), "MobileNetV2", origin);
    stem_ = ConvBN<T>(sd, stem_desc(), opt.fold_bn);
    for (const auto& stage : block_descs()) {
      stages_.emplace_back();
      for (const auto& b : stage) stages_.back().emplace_back(sd, b, opt.fold_bn);
    }
    head_ = ConvBN<T>(sd, head_desc(), opt.fold_bn);
    classifier_w_ = state_tensor(sd, "classifier.weight").contiguous();
    classifier_b_ = state_tensor(sd, "classifier.bias").contiguous();
  }
  /// From a safetensors file with timm's names.
  static MobileNetV2 from_file(const std::string& path, BackboneOptions opt = {}) {
    return MobileNetV2(load_state_dict<T>(path), opt, "'" + path + "'");
  }

  std::string name() const override { return "mobilenetv2"; }
  std::vector<int64_t> tap_channels() const override { return {16, 24, 32, 96}; }
  std::vector<int64_t> tap_strides() const override { return {2, 4, 8, 16}; }
  /// x / 127.5 - 1 = (x / 255 - 0.5) / 0.5
  Normalization normalization() const override { return Normalization::mobilenet_v2(); }
  bool folded() const { return folded_; }

  /// images [N, 3, H, W] -> outputs of stages 0..last, the whole batch at once.
  std::vector<Tensor<T>> stage_outputs(const Tensor<T>& images, int64_t last) const {
    NoGradGuard no_grad;
    this->check_images(images, 1);
    ONENIP_CHECK(last >= 0 && last < int64_t(stages_.size()), "MobileNetV2: stage ", last, " does not exist (0..",
                 stages_.size() - 1, ")");
    std::vector<Tensor<T>> out;
    Tensor<T> x = stem_.forward(images.detach());
    for (int64_t s = 0; s <= last; ++s) {
      for (const auto& b : stages_[size_t(s)]) x = b.forward(x);
      out.push_back(x);
    }
    return out;
  }

  /// images [N, 3, H, W] -> class scores [N, 1001] (softmax them for probabilities).
  Tensor<T> logits(const Tensor<T>& images) const {
    this->check_images(images, 1);
    auto per_image = this->for_each_image(images, [&](const Tensor<T>& one) {
      Tensor<T> x = head_.forward(stage_outputs(one, int64_t(stages_.size()) - 1).back());
      Tensor<T> pooled = global_avg_pool2d(x).reshape({1, kHeadChannels});
      return std::vector<Tensor<T>>{add(matmul(pooled, classifier_w_.transpose(0, 1)), classifier_b_)};
    });
    return cat(this->column(per_image, 0), 0);
  }

protected:
  /// Outputs of stages 0, 1, 2, 4; stages 5 and 6 are not run.
  std::vector<Tensor<T>> forward_taps(const Tensor<T>& images) const override {
    auto s = stage_outputs(images, 4);
    return {s[0], s[1], s[2], s[4]};
  }

  void to(Device device) override {
    stem_.to(device), head_.to(device);
    for (auto& stage : stages_)
      for (auto& b : stage) b.to(device);
    detail::move_to(classifier_w_, device), detail::move_to(classifier_b_, device);
    this->device_ = device;
  }

private:
  bool folded_ = true;
  ConvBN<T> stem_, head_;
  std::vector<std::vector<InvertedResidual<T>>> stages_;
  Tensor<T> classifier_w_, classifier_b_;
};

}  // namespace onenip::models

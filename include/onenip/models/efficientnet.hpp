/// \file
/// EfficientNet-b4 exactly as the authors' code uses it (docs/backbones.md): lukemelas
/// efficientnet_pytorch 0.7.1, model `efficientnet-b4`, state-dict names `_conv_stem`, `_bn0`,
/// `_blocks.N._expand_conv`, `_bn0`, `_depthwise_conv`, `_bn1`, `_se_reduce`, `_se_expand`,
/// `_project_conv`, `_bn2`, then `_conv_head`, `_bn1`, `_fc`.
///
///   width 1.4, depth 1.8, divisor 8: filters and repeats of the B0 table rounded as
///   efficientnet_pytorch's round_filters / round_repeats -> 32 MBConv blocks; swish; BN eps 1e-3;
///   SE squeeze = max(1, int(0.25 * block input channels)); residual when stride 1 and in == out.
///   Padding: TensorFlow "same", but *static*: computed once for 380 px inputs (the image size
///   shrinking to ceil(size / stride) after the stem and after each stage's first block) and used
///   whatever the real input size. At 380 the stride-2 convs pad (top, bottom, left, right): stem
///   (0,1,0,1), block 2 (0,1,0,1), block 6 (2,2,2,2), block 10 (0,1,0,1), block 22 (1,2,1,2);
///   dynamic "same" at 224 would give block 6 (1,2,1,2), so features would differ.
/// Taps: outputs of blocks 1, 5, 9, 21 (24/32/56/160 channels at strides 2/4/8/16); only the stem
/// and blocks 0..21 are built and run. Input: ImageNet mean / std normalisation.
#pragma once

#include <cmath>

#include "blocks.hpp"
#include "feature_extractor.hpp"

namespace onenip::models {

/// One MBConv block of the network (after rounding), with its static padding.
struct MBConvGeometry {
  int64_t kernel, stride, expand, in, out, squeezed;
  std::array<int64_t, 4> padding;  ///< of the depthwise conv: top, bottom, left, right
};

template <typename T>
class EfficientNet : public FeatureExtractor<T> {
public:
  static constexpr double kWidth = 1.4, kDepth = 1.8, kBnEps = 1e-3;
  static constexpr int64_t kImageSize = 380, kDivisor = 8, kLastBlock = 21, kHead = 1792, kClasses = 1000;

  /// efficientnet_pytorch's round_filters.
  static int64_t round_filters(int64_t filters) {
    const double f = double(filters) * kWidth;
    int64_t r = std::max<int64_t>(kDivisor, int64_t(f + kDivisor / 2.0) / kDivisor * kDivisor);
    if (double(r) < 0.9 * f) r += kDivisor;
    return r;
  }
  static int64_t round_repeats(int64_t repeats) { return int64_t(std::ceil(kDepth * double(repeats))); }

  /// Static "same" padding of a kxk stride-s conv for an input of `size` px: top, bottom, left, right.
  static std::array<int64_t, 4> static_padding(int64_t size, int64_t kernel, int64_t stride) {
    return same_padding_tf(size, size, kernel, kernel, {stride, stride});
  }
  static std::array<int64_t, 4> stem_padding() { return static_padding(kImageSize, 3, 2); }

  /// The 32 blocks of b4, from the B0 table (repeats, kernel, stride, expand, in, out).
  static std::vector<MBConvGeometry> blocks() {
    struct Base {
      int64_t repeats, kernel, stride, expand, in, out;
    };
    const Base table[] = {{1, 3, 1, 1, 32, 16},  {2, 3, 2, 6, 16, 24},   {2, 5, 2, 6, 24, 40},  {3, 3, 2, 6, 40, 80},
                          {3, 5, 1, 6, 80, 112}, {4, 5, 2, 6, 112, 192}, {1, 3, 1, 6, 192, 320}};
    std::vector<MBConvGeometry> out;
    int64_t size = (kImageSize + 1) / 2;  // after the stem
    for (const Base& b : table) {
      const int64_t in = round_filters(b.in), outc = round_filters(b.out), reps = round_repeats(b.repeats);
      for (int64_t j = 0; j < reps; ++j) {
        const int64_t cin = j == 0 ? in : outc, stride = j == 0 ? b.stride : 1;
        out.push_back({b.kernel, stride, b.expand, cin, outc, std::max<int64_t>(1, int64_t(double(cin) * 0.25)),
                       static_padding(size, b.kernel, stride)});
        if (j == 0) size = (size + stride - 1) / stride;
      }
    }
    return out;
  }

  static ConvBNDesc stem_desc() {
    return {"_conv_stem", "_bn0", 3, round_filters(32), 3, 2, false, Activation::Swish, {false, stem_padding()}, kBnEps};
  }
  static InvertedResidualDesc block_desc(int64_t i, const MBConvGeometry& g) {
    const std::string p = "_blocks." + std::to_string(i) + ".";
    const int64_t mid = g.in * g.expand;
    const ConvPadding none{false, {0, 0, 0, 0}};
    InvertedResidualDesc d;
    if (g.expand != 1) d.expand = ConvBNDesc{p + "_expand_conv", p + "_bn0", g.in, mid, 1, 1, false, Activation::Swish, none, kBnEps};
    d.depthwise = {p + "_depthwise_conv", p + "_bn1", mid, mid, g.kernel, g.stride, true, Activation::Swish,
                   {false, g.padding}, kBnEps};
    d.se = SqueezeExciteDesc{p + "_se_reduce", p + "_se_expand", mid, g.squeezed};
    d.project = {p + "_project_conv", p + "_bn2", mid, g.out, 1, 1, false, Activation::None, none, kBnEps};
    d.residual = g.stride == 1 && g.in == g.out;
    return d;
  }

  /// All tensors of efficientnet_pytorch's state dict (without num_batches_tracked). Required: the
  /// stem and blocks 0..21; blocks 22..31, the head and the classifier may be absent.
  static std::vector<TensorSpec> state_dict_spec() {
    std::vector<TensorSpec> spec;
    stem_desc().add_specs(spec, true);
    const auto geo = blocks();
    for (size_t i = 0; i < geo.size(); ++i) block_desc(int64_t(i), geo[i]).add_specs(spec, int64_t(i) <= kLastBlock);
    ConvBNDesc("_conv_head", "_bn1", geo.back().out, kHead, 1, 1, false, Activation::Swish).add_specs(spec, false);
    spec.push_back({"_fc.weight", {kClasses, kHead}, false});
    spec.push_back({"_fc.bias", {kClasses}, false});
    return spec;
  }

  explicit EfficientNet(const StateDict<T>& sd, BackboneOptions opt = {}, const std::string& origin = "the state dict")
      : folded_(opt.fold_bn) {
    check_state_dict(sd, state_dict_spec(), "EfficientNet-b4", origin);
    stem_ = ConvBN<T>(sd, stem_desc(), opt.fold_bn);
    const auto geo = blocks();
    for (int64_t i = 0; i <= kLastBlock; ++i) blocks_.emplace_back(sd, block_desc(i, geo[size_t(i)]), opt.fold_bn);
  }
  /// From a safetensors file with efficientnet_pytorch's names
  /// (examples/convert_efficientnet_weights.py writes one from the released .pth).
  static EfficientNet from_file(const std::string& path, BackboneOptions opt = {}) {
    return EfficientNet(load_state_dict<T>(path), opt, "'" + path + "'");
  }

  std::string name() const override { return "efficientnet-b4"; }
  std::vector<int64_t> tap_channels() const override { return {24, 32, 56, 160}; }
  std::vector<int64_t> tap_strides() const override { return {2, 4, 8, 16}; }
  Normalization normalization() const override { return Normalization::imagenet(); }
  static std::vector<int64_t> tap_blocks() { return {1, 5, 9, 21}; }
  bool folded() const { return folded_; }
  const ConvBN<T>& stem() const { return stem_; }
  const InvertedResidual<T>& block(int64_t i) const { return blocks_.at(size_t(i)); }

protected:
  std::vector<Tensor<T>> forward_taps(const Tensor<T>& images) const override {
    NoGradGuard no_grad;
    const auto which = tap_blocks();
    std::vector<Tensor<T>> out;
    Tensor<T> x = stem_.forward(images);
    for (int64_t i = 0; i <= kLastBlock; ++i) {
      x = blocks_[size_t(i)].forward(x);
      if (std::find(which.begin(), which.end(), i) != which.end()) out.push_back(x);
    }
    return out;
  }

  void to(Device device) override {
    stem_.to(device);
    for (auto& b : blocks_) b.to(device);
    this->device_ = device;
  }

private:
  bool folded_ = true;
  ConvBN<T> stem_;
  std::vector<InvertedResidual<T>> blocks_;
};

}  // namespace onenip::models

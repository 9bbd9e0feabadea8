// The feature-extractor interface (models/feature_extractor.hpp, models/backbone.hpp) and the
// image batch loader (data/backbone_input.hpp).
#include <onenip/data/backbone_input.hpp>

#include "backbone_fixture.hpp"

using namespace onenip;
using namespace onenip::models;

namespace {

// Both extractors with pattern weights, through the factory (so from safetensors files).
struct Extractors {
  testing::TempDir dir;
  std::unique_ptr<FeatureExtractor<float>> mnv2, b4;
  Extractors() {
    testing::save_state_dict(dir.file("mnv2.safetensors"),
                             pattern_state_dict<float>(MobileNetV2<float>::state_dict_spec()));
    testing::save_state_dict(dir.file("b4.safetensors"),
                             pattern_state_dict<float>(EfficientNet<float>::state_dict_spec(), true));
    mnv2 = make_feature_extractor<float>("mobilenetv2", dir.file("mnv2.safetensors"));
    b4 = make_feature_extractor<float>("efficientnet-b4", dir.file("b4.safetensors"));
  }
};
const Extractors& extractors() {
  static const Extractors e;
  return e;
}

}  // namespace

TEST_CASE("feature extractors: names, taps, strides, channels, normalisation") {
  const auto& e = extractors();
  CHECK(e.mnv2->name() == "mobilenetv2");
  CHECK(e.mnv2->tap_channels() == std::vector<int64_t>{16, 24, 32, 96});
  CHECK(e.mnv2->channels() == 168);
  CHECK(e.mnv2->normalization().mean == std::vector<double>{0.5});
  CHECK(e.b4->name() == "efficientnet-b4");
  CHECK(e.b4->tap_channels() == std::vector<int64_t>{24, 32, 56, 160});
  CHECK(e.b4->channels() == 272);
  CHECK(e.b4->normalization().std == std::vector<double>{0.229, 0.224, 0.225});
  for (auto* fx : {e.mnv2.get(), e.b4.get()}) CHECK(fx->tap_strides() == std::vector<int64_t>{2, 4, 8, 16});
}

TEST_CASE("feature extractors: taps at strides 2..16 and features [N, C, S/16, S/16] for S = 224, 256, 320") {
  const auto& e = extractors();
  for (int64_t S : {224, 256, 320}) {
    auto x = pattern_tensor<float>("input.shapes", {1, 3, S, S});
    for (auto* fx : {e.mnv2.get(), e.b4.get()}) {
      INFO(fx->name(), " at S = ", S);
      auto f = fx->features(x);
      CHECK(f.shape() == Shape{1, fx->channels(), S / 16, S / 16});
      if (S != 224) continue;
      auto taps = fx->taps(x);
      REQUIRE(taps.size() == 4);
      for (size_t k = 0; k < 4; ++k) {
        int64_t s = fx->tap_strides()[k];
        CHECK(taps[k].shape() == Shape{1, fx->tap_channels()[k], S / s, S / s});
      }
      // The stride-16 tap passes through unchanged; the others are resized with align_corners.
      int64_t c0 = fx->channels() - fx->tap_channels()[3];
      testing::check_close(f.narrow(1, c0, fx->tap_channels()[3]), taps[3], 0.0, 0.0);
      testing::check_close(f.narrow(1, 0, fx->tap_channels()[0]), resize_bilinear(taps[0], S / 16, S / 16, true), 0.0,
                           0.0);
    }
  }
}

TEST_CASE("feature extractors: frozen, no graph is recorded") {
  const auto& e = extractors();
  auto x = pattern_tensor<float>("input.grad", {2, 3, 32, 32});
  x.set_requires_grad(true);
  for (auto* fx : {e.mnv2.get(), e.b4.get()}) {
    INFO(fx->name());
    auto f = fx->features(x);
    CHECK_FALSE(f.requires_grad());
    CHECK(f.grad_fn() == nullptr);
    for (const auto& t : fx->taps(x)) CHECK_FALSE(t.requires_grad());
    CHECK(grad_enabled());  // the guard is released
  }
  const auto* mnv2 = dynamic_cast<const MobileNetV2<float>*>(e.mnv2.get());
  REQUIRE(mnv2 != nullptr);
  CHECK_FALSE(mnv2->logits(x).requires_grad());
  CHECK(mnv2->folded());
}

TEST_CASE("feature extractors: clear errors") {
  const auto& e = extractors();
  CHECK_THROWS_WITH_AS(make_feature_extractor<float>("resnet50", "w.safetensors"),
                       doctest::Contains("unknown backbone 'resnet50' (known: mobilenetv2, efficientnet-b4)"), Error);
  CHECK_THROWS_WITH_AS(make_feature_extractor<float>("efficientnet-b4", "/nonexistent/b4.safetensors"),
                       doctest::Contains("'/nonexistent/b4.safetensors' does not exist"), Error);
  // a MobileNetV2 file given as b4: the message lists what is missing and unexpected
  CHECK_THROWS_WITH_AS(make_feature_extractor<float>("efficientnet-b4", e.dir.file("mnv2.safetensors")),
                       doctest::Contains("missing tensor(s): _conv_stem.weight"), Error);
  for (auto* fx : {e.mnv2.get(), e.b4.get()}) {
    INFO(fx->name());
    CHECK_THROWS_WITH_AS(fx->features(Tensor<float>::empty({3, 32, 32})), doctest::Contains("[N, 3, H, W]"), Error);
    CHECK_THROWS_WITH_AS(fx->features(Tensor<float>::empty({1, 1, 32, 32})), doctest::Contains("[1, 1, 32, 32]"), Error);
    CHECK_THROWS_WITH_AS(fx->features(Tensor<float>::empty({1, 3, 40, 36})), doctest::Contains("multiples of 16"), Error);
    CHECK_THROWS_WITH_AS(fx->taps(Tensor<float>()), doctest::Contains("undefined"), Error);
  }
}

TEST_CASE("load_backbone_batch: decode, grey to RGB, resize, normalise, and errors that name the file") {
  testing::TempDir dir;
  io::Image grey(40, 30, 1), rgb(20, 20, 3);
  for (size_t i = 0; i < grey.pixels.size(); ++i) grey.pixels[i] = uint8_t(i * 7);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = uint8_t(i * 13);
  io::save_png(dir.file("grey.png"), grey);
  io::save_png(dir.file("rgb.png"), rgb);
  Normalization norm{{0.5}, {0.5}};
  auto x = data::load_backbone_batch<float>({dir.file("grey.png"), dir.file("rgb.png")}, 32, norm);
  CHECK(x.shape() == Shape{2, 3, 32, 32});
  // grey replicated into R, G and B
  testing::check_close(x.select(0, 0).select(0, 0), x.select(0, 0).select(0, 2), 0.0, 0.0);
  // same pipeline as the data layer: PIL bilinear resize, then (x / 255 - 0.5) / 0.5
  auto want = data::image_to_tensor<float>(data::resize_image(rgb, 32, 32), norm);
  testing::check_close(x.select(0, 1), want, 1e-6, 0.0);
  float lo = 1e9f, hi = -1e9f;
  for (int64_t i = 0; i < x.numel(); ++i) lo = std::min(lo, x.data()[i]), hi = std::max(hi, x.data()[i]);
  CHECK(lo >= -1.0f);
  CHECK(hi <= 1.0f);

  std::ofstream(dir.file("broken.jpg")) << "not a jpeg";
  CHECK_THROWS_WITH_AS(data::load_backbone_batch<float>({dir.file("rgb.png"), dir.file("broken.jpg")}, 32, norm),
                       doctest::Contains("broken.jpg"), Error);
  CHECK_THROWS_WITH_AS(data::load_backbone_batch<float>({dir.file("missing.png")}, 32, norm),
                       doctest::Contains("missing.png"), Error);
  CHECK_THROWS_WITH_AS(data::load_backbone_batch<float>({dir.file("rgb.png")}, 30, norm),
                       doctest::Contains("multiple of 16"), Error);
}

TEST_CASE("feature extractors: image by image (in parallel) gives the whole batch's results") {
  const auto* mnv2 = dynamic_cast<const MobileNetV2<float>*>(extractors().mnv2.get());
  REQUIRE(mnv2 != nullptr);
  auto x = pattern_tensor<float>("input.batch", {3, 3, 48, 32});
  auto whole = mnv2->stage_outputs(x, 4);
  auto taps = mnv2->taps(x);
  const size_t stage_of_tap[4] = {0, 1, 2, 4};
  for (size_t k = 0; k < 4; ++k) testing::check_close(taps[k], whole[stage_of_tap[k]], 1e-5, 1e-5);
  auto one = mnv2->taps(x.narrow(0, 2, 1));
  // equal up to float rounding: the stem GEMM splits its work differently when it runs alone
  for (size_t k = 0; k < 4; ++k) testing::check_close(taps[k].narrow(0, 2, 1), one[k], 1e-5, 1e-5);
}

// MobileNetV2 (models/mobilenetv2.hpp) against PyTorch (fixtures/export_backbone_fixtures.py): with
// pattern weights (always), with the real ImageNet weights and on the two known-answer photos
// (when ../shared is present).
#include <onenip/data/backbone_input.hpp>
#include <onenip/ops/softmax.hpp>

#include "backbone_fixture.hpp"

using namespace onenip;
using namespace onenip::models;
using testing::check_rel;
using testing::fixture_tensor;

namespace {

template <typename T>
const MobileNetV2<T>& pattern_mnv2(bool fold = true) {
  static const MobileNetV2<T> folded(pattern_state_dict<T>(MobileNetV2<T>::state_dict_spec()), {true});
  static const MobileNetV2<T> unfolded(pattern_state_dict<T>(MobileNetV2<T>::state_dict_spec()), {false});
  return fold ? folded : unfolded;
}

// The real network, or null (with a message) when ../shared is absent.
template <typename T>
const MobileNetV2<T>* real_mnv2(bool fold = true) {
  std::string path = testing::shared_weights("mobilenetv2_100_imagenet.safetensors");
  if (path.empty()) return nullptr;
  static const MobileNetV2<T> folded = MobileNetV2<T>::from_file(path, {true});
  static const MobileNetV2<T> unfolded = MobileNetV2<T>::from_file(path, {false});
  return fold ? &folded : &unfolded;
}

}  // namespace

TEST_CASE("mobilenetv2: 262 tensors, 3,540,265 values, the names of the weights file") {
  auto spec = MobileNetV2<float>::state_dict_spec();
  CHECK(spec.size() == 262);
  int64_t values = 0;  // the weights file's 3,540,265 parameters count the BN statistics too
  for (const auto& s : spec) values += numel_of(s.shape);
  CHECK(values == 3540265);
  std::string path = testing::shared_weights("mobilenetv2_100_imagenet.safetensors");
  if (path.empty()) return;
  io::SafeTensorsFile f(path);
  CHECK(f.tensors().size() == spec.size());
  for (const auto& s : spec) {
    INFO("tensor ", s.name);
    REQUIRE(f.contains(s.name));
    CHECK(f.info(s.name).shape == s.shape);
  }
}

TEST_CASE("mobilenetv2: TensorFlow 'same' padding follows the input size") {
  ConvBN<float> stem(pattern_state_dict<float>(MobileNetV2<float>::state_dict_spec()), MobileNetV2<float>::stem_desc(),
                     true);
  using Pad = std::array<int64_t, 4>;
  CHECK(stem.padding_for(224, 224) == Pad{0, 1, 0, 1});
  CHECK(stem.padding_for(225, 224) == Pad{1, 1, 0, 1});
  CHECK(stem.padding_for(29, 37) == Pad{1, 1, 1, 1});
}

TEST_CASE_TEMPLATE("mobilenetv2: taps match the PyTorch reference (pattern weights)", T, float, double) {
  const double rtol = std::is_same_v<T, float> ? 1e-4 : 1e-6;
  for (bool fold : {true, false}) {
    auto taps = pattern_mnv2<T>(fold).taps(pattern_tensor<T>("input.mnv2p", {1, 3, 32, 32}));
    REQUIRE(taps.size() == 4);
    for (int k = 0; k < 4; ++k) {
      INFO("tap ", k, ", folded ", fold);
      check_rel(taps[size_t(k)], fixture_tensor<T>("mnv2p.tap" + std::to_string(k)), rtol);
    }
  }
}

TEST_CASE_TEMPLATE("mobilenetv2: taps and logits match the PyTorch reference (ImageNet weights)", T, float, double) {
  const double rtol = std::is_same_v<T, float> ? 1e-4 : 1e-6;
  for (bool fold : {true, false}) {
    const MobileNetV2<T>* net = real_mnv2<T>(fold);
    if (!net) return;
    for (auto [tag, shape] : {std::pair<const char*, Shape>{"a", {1, 3, 40, 40}}, {"b", {1, 3, 29, 37}}}) {
      auto x = pattern_tensor<T>(std::string("input.mnv2.") + tag, shape);
      auto taps = net->taps(x);
      for (int k = 0; k < 4; ++k) {
        INFO("input ", tag, ", tap ", k, ", folded ", fold);
        check_rel(taps[size_t(k)], fixture_tensor<T>("mnv2." + std::string(tag) + ".tap" + std::to_string(k)), rtol);
      }
      if (std::string(tag) == "a") check_rel(net->logits(x), fixture_tensor<T>("mnv2.a.logits"), rtol);
    }
  }
}

TEST_CASE("mobilenetv2: BN folded into the convs agrees with the unfolded network") {
  auto x = pattern_tensor<double>("input.fold", {2, 3, 64, 48});
  auto a = pattern_mnv2<double>(true).taps(x), b = pattern_mnv2<double>(false).taps(x);
  for (size_t k = 0; k < a.size(); ++k) check_rel(a[k], b[k], 1e-10);
  check_rel(pattern_mnv2<double>(true).logits(x), pattern_mnv2<double>(false).logits(x), 1e-10);
  auto xf = pattern_tensor<float>("input.fold", {2, 3, 64, 48});
  auto af = pattern_mnv2<float>(true).taps(xf), bf = pattern_mnv2<float>(false).taps(xf);
  for (size_t k = 0; k < af.size(); ++k) check_rel(af[k], bf[k], 1e-5);
}

TEST_CASE("mobilenetv2: known answers on cat.bmp and hot_dog.jpg (ImageNet weights)") {
  const MobileNetV2<float>* net = real_mnv2<float>();
  if (!net) return;
  std::string dir = testing::shared_dir() + "/weights/";
  auto x = data::load_backbone_batch<float>({dir + "cat.bmp", dir + "hot_dog.jpg"}, 224, net->normalization());
  auto prob = softmax(net->logits(x), 1);
  const int64_t want_class[2] = {286, 935};
  const double want_prob[2] = {0.672, 0.319};
  for (int64_t i = 0; i < 2; ++i) {
    int64_t best = 0;
    for (int64_t c = 1; c < prob.size(1); ++c)
      if (prob.at({i, c}) > prob.at({i, best})) best = c;
    INFO("image ", i, ": class ", best, " p = ", prob.at({i, best}));
    CHECK(best == want_class[i]);
    CHECK(std::abs(prob.at({i, best}) - want_prob[i]) < 0.03);
  }
}

TEST_CASE("mobilenetv2: loading is strict and names the tensor") {
  auto spec = MobileNetV2<float>::state_dict_spec();
  SUBCASE("missing: the classifier is required") {
    auto sd = pattern_state_dict<float>(spec);
    sd.erase("classifier.bias");
    CHECK_THROWS_WITH_AS(MobileNetV2<float>{sd}, doctest::Contains("missing tensor(s): classifier.bias"), Error);
  }
  SUBCASE("unexpected") {
    auto sd = pattern_state_dict<float>(spec);
    sd["blocks.7.0.conv_pw.weight"] = Tensor<float>::empty({4, 4, 1, 1});
    CHECK_THROWS_WITH_AS(MobileNetV2<float>{sd}, doctest::Contains("unexpected tensor(s): blocks.7.0.conv_pw.weight [4, 4, 1, 1]"),
                         Error);
  }
  SUBCASE("wrong shape") {
    auto sd = pattern_state_dict<float>(spec);
    sd["blocks.2.1.conv_dw.weight"] = Tensor<float>::empty({192, 1, 5, 5});
    CHECK_THROWS_WITH_AS(MobileNetV2<float>{sd},
                         doctest::Contains("blocks.2.1.conv_dw.weight is [192, 1, 5, 5], expected [192, 1, 3, 3]"), Error);
  }
  SUBCASE("from a file: the message names it") {
    testing::TempDir dir;
    auto sd = pattern_state_dict<float>(spec);
    sd.erase("conv_head.weight");
    std::string path = dir.file("partial.safetensors");
    testing::save_state_dict(path, sd);
    CHECK_THROWS_WITH_AS(MobileNetV2<float>::from_file(path), doctest::Contains("partial.safetensors"), Error);
    CHECK_THROWS_WITH_AS(MobileNetV2<float>::from_file(path), doctest::Contains("conv_head.weight"), Error);
  }
}

// EfficientNet-b4 (models/efficientnet.hpp) against efficientnet_pytorch's efficientnet-b4 with
// pattern weights (tests/fixtures/export_backbone_fixtures.py), and the architecture facts that
// docs/backbones.md lists.
#include <nlohmann/json.hpp>

#include "backbone_fixture.hpp"

using namespace onenip;
using namespace onenip::models;
using testing::check_rel;
using testing::fixture_tensor;

namespace {

template <typename T>
const EfficientNet<T>& pattern_b4(bool fold = true) {
  static const EfficientNet<T> folded(pattern_state_dict<T>(EfficientNet<T>::state_dict_spec(), true), {true});
  static const EfficientNet<T> unfolded(pattern_state_dict<T>(EfficientNet<T>::state_dict_spec(), true), {false});
  return fold ? folded : unfolded;
}

using Pad = std::array<int64_t, 4>;

}  // namespace

TEST_CASE("efficientnet-b4: stage table and SE widths after rounding (docs/backbones.md)") {
  auto blocks = EfficientNet<float>::blocks();
  REQUIRE(blocks.size() == 32);
  CHECK(EfficientNet<float>::stem_desc().out == 48);
  // (first block, kernel, first stride, expand, out) per stage
  const int64_t stages[7][5] = {{0, 3, 1, 1, 24},   {2, 3, 2, 6, 32},   {6, 5, 2, 6, 56},  {10, 3, 2, 6, 112},
                                {16, 5, 1, 6, 160}, {22, 5, 2, 6, 272}, {30, 3, 1, 6, 448}};
  for (int s = 0; s < 7; ++s) {
    int64_t end = s < 6 ? stages[s + 1][0] : 32;
    for (int64_t i = stages[s][0]; i < end; ++i) {
      const auto& b = blocks[size_t(i)];
      INFO("block ", i);
      CHECK(b.kernel == stages[s][1]);
      CHECK(b.stride == (i == stages[s][0] ? stages[s][2] : 1));
      CHECK(b.expand == stages[s][3]);
      CHECK(b.out == stages[s][4]);
    }
  }
  const int64_t squeezed[32] = {12, 6, 6, 8, 8, 8, 8, 14, 14, 14, 14, 28, 28, 28, 28, 28,
                                28, 40, 40, 40, 40, 40, 40, 68, 68, 68, 68, 68, 68, 68, 68, 112};
  for (int i = 0; i < 32; ++i) CHECK(blocks[size_t(i)].squeezed == squeezed[i]);
  // 3,635,984 parameters in the stem and blocks 0..21; 17,548,616 without the fc (docs/backbones.md).
  int64_t needed = 0, all_but_fc = 0;
  for (const auto& s : EfficientNet<float>::state_dict_spec()) {
    if (s.name.find("running_") != std::string::npos) continue;
    if (s.required) needed += numel_of(s.shape);
    if (s.name.rfind("_fc.", 0) != 0) all_but_fc += numel_of(s.shape);
  }
  CHECK(needed == 3635984);
  CHECK(all_but_fc == 17548616);
}

TEST_CASE("efficientnet-b4: static 'same' padding computed for 380 px (docs/backbones.md)") {
  auto blocks = EfficientNet<float>::blocks();
  CHECK(EfficientNet<float>::stem_padding() == Pad{0, 1, 0, 1});
  CHECK(blocks[2].padding == Pad{0, 1, 0, 1});
  CHECK(blocks[6].padding == Pad{2, 2, 2, 2});
  CHECK(blocks[10].padding == Pad{0, 1, 0, 1});
  CHECK(blocks[22].padding == Pad{1, 2, 1, 2});
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].stride != 1) continue;
    int64_t p = (blocks[i].kernel - 1) / 2;
    INFO("block ", i);
    CHECK(blocks[i].padding == Pad{p, p, p, p});
  }
}

TEST_CASE("efficientnet-b4: the 380 px padding is used at 224 too, not the input's own 'same' padding") {
  const auto& net = pattern_b4<float>();
  // At 224 block 6's depthwise 5x5 stride-2 conv sees 56 x 56: dynamic "same" would pad (1,2,1,2).
  CHECK(same_padding_tf(56, 56, 5, 5, {2, 2}) == Pad{1, 2, 1, 2});
  CHECK(net.block(6).depthwise().padding_for(56, 56) == Pad{2, 2, 2, 2});
  CHECK(net.block(2).depthwise().padding_for(112, 112) == Pad{0, 1, 0, 1});
  CHECK(net.stem().padding_for(224, 224) == Pad{0, 1, 0, 1});
  // At 5 x 5 (the odd fixture input below) dynamic padding would even change the output size.
  CHECK(same_padding_tf(5, 5, 3, 3, {2, 2}) == Pad{1, 1, 1, 1});
  CHECK(net.block(10).depthwise().padding_for(5, 5) == Pad{0, 1, 0, 1});
}

TEST_CASE("efficientnet-b4: state-dict names and shapes are efficientnet_pytorch's") {
  auto meta = testing::backbone_fixture().metadata();
  REQUIRE(meta.count("efficientnet-b4.state_dict"));
  auto torch_sd = nlohmann::json::parse(meta.at("efficientnet-b4.state_dict"));
  auto spec = EfficientNet<float>::state_dict_spec();
  CHECK(spec.size() == torch_sd.size());
  for (const auto& s : spec) {
    INFO("tensor ", s.name);
    REQUIRE(torch_sd.contains(s.name));
    CHECK(torch_sd[s.name].get<Shape>() == s.shape);
    // required: exactly the stem and blocks 0..21
    bool stem = s.name.rfind("_conv_stem", 0) == 0 || s.name.rfind("_bn0", 0) == 0;
    bool early = s.name.rfind("_blocks.", 0) == 0 && std::stoi(s.name.substr(8)) <= 21;
    CHECK(s.required == (stem || early));
  }
}

TEST_CASE("pattern weights are bit-identical to tests/fixtures/pattern.py") {
  const std::pair<const char*, Shape> probes[] = {{"_blocks.3._depthwise_conv.weight", {192, 1, 3, 3}},
                                                  {"_bn0.running_var", {48}},
                                                  {"blocks.1.0.bn2.bias", {96}},
                                                  {"input.probe", {4, 5}}};
  for (const auto& [name, shape] : probes) {
    INFO("probe ", name);
    auto want = fixture_tensor<float>(std::string("probe.") + name);
    auto got = pattern_tensor<float>(name, shape).reshape({-1}).narrow(0, 0, want.numel());
    testing::check_close(got, want, 0.0, 0.0);
  }
  CHECK_THROWS_WITH_AS(pattern_tensor<float>("mystery", {3}), doctest::Contains("mystery"), Error);
}

TEST_CASE_TEMPLATE("efficientnet-b4: taps match efficientnet_pytorch (pattern weights)", T, float, double) {
  const double rtol = std::is_same_v<T, float> ? 1e-4 : 1e-6;
  for (bool fold : {true, false}) {
    const auto& net = pattern_b4<T>(fold);
    for (auto [tag, shape] : {std::pair<const char*, Shape>{"a", {2, 3, 32, 32}}, {"b", {1, 3, 36, 28}}}) {
      auto taps = net.taps(pattern_tensor<T>(std::string("input.b4.") + tag, shape));
      REQUIRE(taps.size() == 4);
      for (int k = 0; k < 4; ++k) {
        INFO("input ", tag, ", tap ", k, ", folded ", fold);
        auto want = fixture_tensor<T>("b4." + std::string(tag) + ".tap" + std::to_string(k));
        REQUIRE(taps[size_t(k)].shape() == want.shape());
        check_rel(taps[size_t(k)], want, rtol);
      }
    }
  }
  // The neck: taps resized to S/16 with align_corners=True and concatenated.
  auto feats = pattern_b4<T>().features(pattern_tensor<T>("input.b4.a", {2, 3, 32, 32}));
  check_rel(feats, fixture_tensor<T>("b4.a.features"), rtol);
}

TEST_CASE("efficientnet-b4: BN folded into the convs agrees with the unfolded network") {
  auto x = pattern_tensor<double>("input.fold", {1, 3, 64, 48});
  auto a = pattern_b4<double>(true).taps(x), b = pattern_b4<double>(false).taps(x);
  for (size_t k = 0; k < a.size(); ++k) check_rel(a[k], b[k], 1e-10);
  auto xf = pattern_tensor<float>("input.fold", {1, 3, 64, 48});
  auto af = pattern_b4<float>(true).taps(xf), bf = pattern_b4<float>(false).taps(xf);
  for (size_t k = 0; k < af.size(); ++k) check_rel(af[k], bf[k], 1e-4);
}

TEST_CASE("efficientnet-b4: loads by name from safetensors, strictly") {
  auto spec = EfficientNet<float>::state_dict_spec();
  testing::TempDir dir;
  auto x = pattern_tensor<float>("input.b4.b", {1, 3, 36, 28});
  auto want = fixture_tensor<float>("b4.b.tap3");

  SUBCASE("the whole network's tensors (head and fc included) load; only blocks 0..21 are used") {
    std::string path = dir.file("b4_full.safetensors");
    testing::save_state_dict(path, pattern_state_dict<float>(spec, false));
    auto net = EfficientNet<float>::from_file(path);
    check_rel(net.taps(x)[3], want, 1e-4);
  }
  SUBCASE("a missing required tensor is named") {
    auto sd = pattern_state_dict<float>(spec, true);
    sd.erase("_blocks.7._se_expand.bias");
    CHECK_THROWS_WITH_AS(EfficientNet<float>{sd}, doctest::Contains("missing tensor(s): _blocks.7._se_expand.bias"),
                         Error);
  }
  SUBCASE("an unexpected tensor is named") {
    auto sd = pattern_state_dict<float>(spec, true);
    sd["_blocks.3._bn1.num_batches_tracked"] = Tensor<float>::empty({});
    CHECK_THROWS_WITH_AS(EfficientNet<float>{sd}, doctest::Contains("unexpected tensor(s): _blocks.3._bn1.num_batches"),
                         Error);
  }
  SUBCASE("a wrong shape is named with both shapes, optional tensors included") {
    auto sd = pattern_state_dict<float>(spec, true);
    sd["_fc.weight"] = Tensor<float>::empty({10, 1792});
    CHECK_THROWS_WITH_AS(EfficientNet<float>{sd},
                         doctest::Contains("_fc.weight is [10, 1792], expected [1000, 1792]"), Error);
  }
  SUBCASE("a missing file is named") {
    CHECK_THROWS_WITH_AS(EfficientNet<float>::from_file(dir.file("nope.safetensors")),
                         doctest::Contains("nope.safetensors"), Error);
  }
}

// The frozen backbones' features() (taps + neck) at 224 x 224, batch 1 and 8. Pattern weights
// (models/pattern_weights.hpp): the speed does not depend on the values, and b4's ImageNet
// weights are not on our machines. bench/compare_backbone_pytorch.py runs PyTorch on the same
// work and prints the ratio.
#include <onenip/models/backbone.hpp>
#include <onenip/models/pattern_weights.hpp>

#include "bench_common.hpp"

using namespace onenip;
using namespace onenip::models;

namespace {

const FeatureExtractor<float>& extractor(const std::string& name) {
  static const MobileNetV2<float> mnv2(pattern_state_dict<float>(MobileNetV2<float>::state_dict_spec()));
  static const EfficientNet<float> b4(pattern_state_dict<float>(EfficientNet<float>::state_dict_spec(), true));
  if (name == "mobilenetv2") return mnv2;
  return b4;
}

void BM_features(benchmark::State& state, const std::string& name) {
  const auto& fx = extractor(name);
  const int64_t N = state.range(0);
  auto x = pattern_tensor<float>("input.bench", {N, 3, 224, 224});
  for (auto _ : state) {
    auto f = fx.features(x);
    benchmark::DoNotOptimize(f.data());
  }
  state.counters["img/s"] = benchmark::Counter(double(N), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_features, mobilenetv2, std::string("mobilenetv2"))
    ->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_features, efficientnet-b4, std::string("efficientnet-b4"))
    ->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

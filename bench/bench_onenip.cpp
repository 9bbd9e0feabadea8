// End to end: one OneNIP training step and inference, at the reference's settings (batch 8,
// 224 x 224, MobileNetV2 taps -> C 168, 4 + 4 layers). bench/compare_onenip_pytorch.py runs the
// same work in PyTorch (the parity model it imports from ../shared) and prints the ratio.
//
//   train_step/model            forward_train + loss (Eq. 8) + backward + clip 0.1 + AdamW, on given features
//   train_step/backbone         the same plus the frozen backbone on the 3 x 8 images (query, synthetic,
//                               prompt), as the reference does every step (233.6 GFLOP in all)
//   train_step/backbone_cached  what `onenip train` does: clean images' features come from the cache
//                               (pipeline::FeatureCache), only the 8 synthetic images go through the backbone
//   infer/N                     N images, each with its own prompt (backbone on 2N images, prompt encoder,
//                               forward_eval, fusion, image score): the reference's test loop
//   infer_cached_prompt/N       pipeline::Detector's path: the prompt is encoded once and reused
//
// The stand-in backbone weights (models/pattern_weights.hpp): the time does not depend on them.
// Built as bench_cuda_onenip (bench/cuda/) it runs the same work on the GPU (ONENIP_BENCH_DEVICE),
// with BF16 variants of the training step (mixed precision: --precision bf16).
// "peak_MB" is the process's peak resident memory: meaningful when one benchmark runs per process
// (--benchmark_filter), which is how the comparison script runs them.
#include <sys/resource.h>

#include <onenip/models/backbone.hpp>
#include <onenip/models/onenip.hpp>
#include <onenip/nn/losses.hpp>
#include <onenip/optim/adamw.hpp>
#include <onenip/optim/clip.hpp>
#include <onenip/pipeline/detector.hpp>

#include "bench_common.hpp"

using namespace onenip;

#ifndef ONENIP_BENCH_DEVICE
#define ONENIP_BENCH_DEVICE onenip::Device::CPU
#endif

namespace {

constexpr int64_t kBatch = 8, kSide = 224;
constexpr Device kDevice = ONENIP_BENCH_DEVICE;
constexpr double kMinSeconds = kDevice == Device::CPU ? 5 : 1;  // a GPU step is short: the run stays short

models::FeatureExtractor<float>& backbone() {
  static auto fx = [] {
    auto f = models::make_untrained_feature_extractor<float>("mobilenetv2");
    f->to(kDevice);
    return f;
  }();
  return *fx;
}

TensorF images(int64_t n, uint64_t seed) {
  Generator g(seed);
  return rand<float>({n, 3, kSide, kSide}, -1.f, 1.f, g).to(kDevice);
}

// Refiner targets: zeros for the clean queries, a square "defect" for each synthetic one.
TensorF masks(int64_t b) {
  TensorF m = zeros<float>({2 * b, 1, kSide, kSide});
  for (int64_t i = b; i < 2 * b; ++i) m.select(0, i).narrow(1, 40, 60).narrow(2, 70, 50).fill_(1.f);
  return m.to(kDevice);
}

void set_peak_memory(benchmark::State& state) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["peak_MB"] = double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// Analytic FLOPs of the reference (onenip.py's counters): backbone per image, model forward.
double backbone_flops() { return 0.41972224e9; }  // per image: flops_backbone() at 224
double model_forward_flops(int64_t n_query, int64_t n_prompt) {
  const double L = 196, d = 256, ff = 1024, c = 168, h = 14;
  auto mha = [&](double n) { return n * 2 * (L * d * d + 2 * L * d * d + L * d * d + 2 * L * L * d); };
  double ne = double(n_query + n_prompt), nq = double(n_query);
  double f = ne * 2 * L * c * d + 4 * (mha(ne) + ne * 2 * (2 * L * d * ff));
  f += 4 * (2 * mha(nq) + nq * 2 * (2 * L * d * ff)) + mha(nq) + nq * 2 * L * d * c;
  double r = 2 * c * 128 * 9 * h * h + 2 * 128 * 128 * 4 * h * h + 2 * 128 * 128 * 9 * 4 * h * h +
             2 * 128 * 128 * 4 * 4 * h * h + 2 * 128 * 16 * h * h;
  return f + nq * r;
}

enum class Backbone { none, all, synthetic_only };

void BM_train_step(benchmark::State& state, Backbone with, MathPrecision precision = MathPrecision::FP32) {
  MatmulPrecisionGuard products(precision);
  models::OneNIPConfig cfg;
  models::OneNIP<float> model(cfg);
  model.to(kDevice);
  model.train();
  optim::AdamW<float> opt(model.parameters(), {.lr = 1e-4, .weight_decay = 1e-4});
  auto& fx = backbone();
  TensorF x = images(3 * kBatch, 1);  // [query; synthetic; prompt]
  TensorF f_all;
  {
    NoGradGuard ng;
    f_all = fx.features(x);
  }
  TensorF m = masks(kBatch);
  auto step = [&] {
    TensorF f = f_all;
    if (with != Backbone::none) {
      NoGradGuard ng;
      f = with == Backbone::all ? fx.features(x) : cat<float>({f_all.narrow(0, 0, kBatch), fx.features(x.narrow(0, kBatch, kBatch)),
                                                              f_all.narrow(0, 2 * kBatch, kBatch)}, 0);
    }
    auto out = model.forward_train(f.narrow(0, 0, kBatch), f.narrow(0, kBatch, kBatch), f.narrow(0, 2 * kBatch, kBatch));
    auto loss = model.loss(out, m);
    opt.zero_grad();
    loss.total.backward();
    optim::clip_grad_norm_(opt.params(), 0.1);
    opt.step();
    benchmark::DoNotOptimize(loss.total.item());
  };
  // One untimed step, as compare_onenip_pytorch.py gives PyTorch: Google Benchmark builds the
  // model afresh for its timed run, whose first step would otherwise create AdamW's state and
  // fill the allocator's cache.
  step();
  for (auto _ : state) step();
  const int64_t backbone_images = with == Backbone::all ? 3 * kBatch : with == Backbone::synthetic_only ? kBatch : 0;
  bench::set_flops(state, 3 * model_forward_flops(2 * kBatch, kBatch) + double(backbone_images) * backbone_flops());
  state.counters["img/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
  set_peak_memory(state);
}

void BM_infer(benchmark::State& state, bool cached_prompt) {
  const int64_t N = state.range(0);
  models::OneNIP<float> model(models::OneNIPConfig{});
  model.to(kDevice);
  model.eval();
  auto& fx = backbone();
  TensorF query = images(N, 2), prompt = images(cached_prompt ? 1 : N, 3);
  TensorF p_cached;
  {
    NoGradGuard ng;
    p_cached = model.encode_prompt(fx.features(prompt));
  }
  const float scale = 0.5f;  // fusion: 0.5 S_rec + 0.5 scale S_ref (docs/onenip.md, section 7)
  auto infer = [&] {
    NoGradGuard ng;
    TensorF fq, p_e = p_cached;
    if (cached_prompt) {
      fq = fx.features(query);
    } else {
      TensorF f = fx.features(cat<float>({query, prompt}, 0));  // one backbone batch, as the reference
      fq = f.narrow(0, 0, N);
      p_e = model.encode_prompt(f.narrow(0, N, N));
    }
    auto maps = model.forward_eval(fq, p_e);
    TensorF fused = maps.rec * 0.5f + maps.ref * (0.5f * scale);
    for (int64_t i = 0; i < N; ++i) benchmark::DoNotOptimize(pipeline::Detector::image_score(fused.select(0, i)));
  };
  infer();  // untimed, as the training step's
  for (auto _ : state) infer();
  const double per_image = cached_prompt ? backbone_flops() + model_forward_flops(1, 0)
                                         : 2 * backbone_flops() + model_forward_flops(1, 1);
  bench::set_flops(state, double(N) * per_image);
  state.counters["img/s"] = benchmark::Counter(double(N), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ms/img"] = benchmark::Counter(double(N) * 1e-3, benchmark::Counter::kIsIterationInvariantRate |
                                                                     benchmark::Counter::kInvert);
  set_peak_memory(state);
}

}  // namespace

BENCHMARK_CAPTURE(BM_train_step, model, Backbone::none)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(kMinSeconds);
BENCHMARK_CAPTURE(BM_train_step, backbone, Backbone::all)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(kMinSeconds);
BENCHMARK_CAPTURE(BM_train_step, backbone_cached, Backbone::synthetic_only)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(kMinSeconds);
#if defined(ONENIP_WITH_CUDA)  // the CPU ignores the products' precision
BENCHMARK_CAPTURE(BM_train_step, model_bf16, Backbone::none, MathPrecision::BF16)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(kMinSeconds);
BENCHMARK_CAPTURE(BM_train_step, backbone_cached_bf16, Backbone::synthetic_only, MathPrecision::BF16)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(kMinSeconds);
#endif
BENCHMARK_CAPTURE(BM_infer, per_image_prompt, false)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_infer, cached_prompt, true)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond)->UseRealTime();

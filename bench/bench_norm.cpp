// layer_norm, rms_norm and softmax: the fused kernels against composites of elementwise ops and
// reductions, forward and forward+backward, at the model's shapes: the norms over
// [8 * 196 * 3 tokens, 256] and softmax over attention scores [B H T, T] (B 8, H 8, T 196).
// Counter: GB/s of the tensors an ideal kernel reads and writes (fwd: x, y; bwd: + y or x, dy, dx).
#include "bench_common.hpp"

using namespace onenip;

namespace {

TensorF layer_norm_composite(const TensorF& x, const TensorF& w, const TensorF& b) {
  TensorF xc = x - mean(x, {-1}, true);
  return xc / sqrt(mean(square(xc), {-1}, true) + 1e-5f) * w + b;
}
TensorF rms_norm_composite(const TensorF& x, const TensorF& w) {
  return x * pow(mean(square(x), {-1}, true) + 1e-6f, -0.5f) * w;
}
TensorF softmax_composite(const TensorF& x) {
  TensorF e = exp(x - max(x, -1, true).detach());
  return e / sum(e, {-1}, true);
}

template <typename F>
void run(benchmark::State& state, int64_t rows, int64_t cols, F f) {
  const bool backward = state.range(1) != 0;
  Generator g(0);
  auto x = randn<float>({rows, cols}, 0.f, 1.f, g), up = randn<float>({rows, cols}, 0.f, 1.f, g);
  if (backward) x.set_requires_grad();
  for (auto _ : state) {
    if (backward) {
      auto y = f(x);
      y.backward(up);
      benchmark::DoNotOptimize(x.grad().data());
      x.zero_grad();
    } else {
      NoGradGuard ng;
      auto y = f(x);
      benchmark::DoNotOptimize(y.data());
    }
  }
  double bytes = 4.0 * double(rows * cols) * (backward ? 5 : 2);
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_layer_norm(benchmark::State& state) {
  const bool composite = state.range(0) != 0;
  Generator g(1);
  const int64_t C = 256;
  auto w = randn<float>({C}, 0.f, 1.f, g), b = randn<float>({C}, 0.f, 1.f, g);
  run(state, 8 * 196 * 3, C, [&](const TensorF& x) {
    return composite ? layer_norm_composite(x, w, b) : layer_norm(x, w, b);
  });
}

void BM_rms_norm(benchmark::State& state) {
  const bool composite = state.range(0) != 0;
  Generator g(1);
  const int64_t C = 256;
  auto w = randn<float>({C}, 0.f, 1.f, g);
  run(state, 8 * 196 * 3, C, [&](const TensorF& x) { return composite ? rms_norm_composite(x, w) : rms_norm(x, w); });
}

void BM_softmax(benchmark::State& state) {
  const bool composite = state.range(0) != 0;
  run(state, 8 * 8 * 196, 196, [&](const TensorF& x) { return composite ? softmax_composite(x) : softmax(x, -1); });
}

void variants(benchmark::internal::Benchmark* b) {
  for (int64_t bwd : {0, 1})
    for (int64_t composite : {0, 1}) b->Args({composite, bwd});
}

}  // namespace

BENCHMARK(BM_layer_norm)->ArgNames({"composite", "bwd"})->Apply(variants)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_rms_norm)->ArgNames({"composite", "bwd"})->Apply(variants)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_softmax)->ArgNames({"composite", "bwd"})->Apply(variants)->Unit(benchmark::kMillisecond)->UseRealTime();

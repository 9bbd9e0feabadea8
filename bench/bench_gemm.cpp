// GEMM through the library's matmul: the machine's large-GEMM rate that other suites compare to.
#include "bench_common.hpp"

using namespace onenip;

static void BM_matmul(benchmark::State& state) {
  int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  Generator g(0);
  auto a = randn<float>({M, K}, 0.f, 1.f, g), b = randn<float>({K, N}, 0.f, 1.f, g);
  for (auto _ : state) {
    auto c = matmul(a, b);
    benchmark::DoNotOptimize(c.data());
  }
  bench::set_flops(state, 2.0 * double(M) * double(K) * double(N));
}
// Square sizes for the peak; then the model's shapes: tokens (8 x 196) x 256 -> 768 / 1024.
BENCHMARK(BM_matmul)->Args({1024, 1024, 1024})->Args({2048, 2048, 2048})->Args({1568, 256, 768})
    ->Args({1568, 256, 1024})->Args({1568, 1024, 256})->Unit(benchmark::kMillisecond)->UseRealTime();

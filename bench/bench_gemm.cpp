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

// The training step's three products at one layer's shape (tokens 16 x 196, 256 channels), each
// with its operands' layouts: forward X W^T (B transposed), input gradient dY W (both row-major),
// weight gradient dY^T X (A transposed); the weight gradients of the feed-forward layers (24 x 196
// tokens, 256 <-> 1024 channels); then forward products of one or two images' tokens (196,
// 392) at the model's widths, as batch-1 inference runs them.
static void BM_matmul_layout(benchmark::State& state) {
  const int64_t M = state.range(0), K = state.range(1), N = state.range(2);
  const bool a_t = state.range(3) != 0, b_t = state.range(4) != 0;
  Generator g(0);
  auto a = randn<float>(a_t ? Shape{K, M} : Shape{M, K}, 0.f, 1.f, g);
  auto b = randn<float>(b_t ? Shape{N, K} : Shape{K, N}, 0.f, 1.f, g);
  for (auto _ : state) {
    auto c = matmul(a_t ? a.transpose(0, 1) : a, b_t ? b.transpose(0, 1) : b);
    benchmark::DoNotOptimize(c.data());
  }
  bench::set_flops(state, 2.0 * double(M) * double(K) * double(N));
}
BENCHMARK(BM_matmul_layout)->ArgNames({"M", "K", "N", "a_t", "b_t"})->Args({3136, 256, 256, 0, 1})
    ->Args({3136, 256, 256, 0, 0})->Args({256, 3136, 256, 1, 0})->Args({4704, 256, 1024, 0, 1})
    ->Args({256, 4704, 1024, 1, 0})->Args({1024, 4704, 256, 1, 0})
    ->Args({196, 168, 168, 0, 1})->Args({196, 168, 672, 0, 1})->Args({196, 672, 168, 0, 1})->Args({392, 168, 504, 0, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// conv2d / conv_transpose2d on the model's shapes, forward and forward+backward, as GFLOP/s and
// % of this run's large-GEMM rate (bench_common.hpp).
//   ./build/bench/bench_conv --benchmark_min_time=0.2
#include "bench_common.hpp"

using namespace onenip;

namespace {

struct ConvShape {
  int64_t N, C, O, H, k, stride, groups;
  bool transpose;
};

// Arguments: N, C, O, H (= W), kernel, stride, groups, transpose (0/1), backward (0/1).
ConvShape shape_of(const benchmark::State& s) {
  return {s.range(0), s.range(1), s.range(2), s.range(3), s.range(4), s.range(5), s.range(6), s.range(7) != 0};
}

void BM_conv(benchmark::State& state) {
  const ConvShape c = shape_of(state);
  const bool backward = state.range(8) != 0;
  Generator g(0);
  auto x = randn<float>({c.N, c.C, c.H, c.H}, 0.f, 1.f, g);
  // conv2d weight [O, C/groups, k, k]; conv_transpose2d weight [Cin, Cout/groups, k, k]
  auto w = c.transpose ? randn<float>({c.C, c.O / c.groups, c.k, c.k}, 0.f, 0.1f, g)
                       : randn<float>({c.O, c.C / c.groups, c.k, c.k}, 0.f, 0.1f, g);
  auto b = randn<float>({c.O}, 0.f, 1.f, g);
  if (backward) {
    x.set_requires_grad();
    w.set_requires_grad();
    b.set_requires_grad();
  }
  Conv2dOptions copt;
  copt.stride = {c.stride, c.stride};
  copt.padding = same_padding_tf(c.H, c.H, c.k, c.k, copt.stride);
  copt.groups = c.groups;
  ConvTranspose2dOptions topt;
  topt.stride = {c.stride, c.stride};
  topt.groups = c.groups;
  auto run = [&] { return c.transpose ? conv_transpose2d(x, w, b, topt) : conv2d(x, w, b, copt); };
  auto y0 = run();
  auto gy = randn<float>(y0.shape(), 0.f, 1.f, g);
  // multiply-adds of one pass: every (input pixel, tap) pair of a transposed conv, every (output
  // pixel, tap) pair of a conv; backward = input gradient + weight gradient, two more passes
  const double pixels = c.transpose ? double(x.numel()) / c.C : double(y0.numel()) / c.O;
  const double pass = 2.0 * pixels * double(c.C) * double(c.O) / double(c.groups) * double(c.k * c.k);
  const double flops = backward ? 3 * pass : pass;
  bench::gemm_peak_gflops();  // measure before timing
  auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto y = run();
    if (backward) {
      y.backward(gy);
      x.zero_grad();
      w.zero_grad();
      b.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  bench::set_flops_and_peak(state, flops, secs / double(state.iterations()));
}

// {N, C, O, H, k, stride, groups, transpose} for forward (0) and forward+backward (1).
void shapes(benchmark::internal::Benchmark* b) {
  const std::vector<std::vector<int64_t>> list = {
      {8, 3, 32, 224, 3, 2, 1, 0},      // MobileNetV2 stem
      {8, 128, 128, 28, 3, 1, 1, 0},    // refiner 3x3
      {8, 128, 128, 14, 3, 1, 1, 0},
      {8, 272, 128, 14, 3, 1, 1, 0},
      {8, 144, 144, 56, 3, 1, 144, 0},  // depthwise 3x3
      {8, 144, 144, 56, 3, 2, 144, 0},
      {8, 240, 240, 28, 3, 1, 240, 0},
      {8, 144, 144, 56, 5, 1, 144, 0},  // depthwise 5x5 (EfficientNet-b4)
      {8, 240, 240, 28, 5, 1, 240, 0},
      {8, 96, 576, 14, 1, 1, 1, 0},     // pointwise 1x1
      {8, 32, 192, 28, 1, 1, 1, 0},
      {8, 576, 96, 14, 1, 1, 1, 0},
      {16, 128, 128, 14, 2, 2, 1, 1},   // conv_transpose2d 2x2 stride 2
  };
  for (int bwd : {0, 1})
    for (const auto& s : list) {
      std::vector<int64_t> a = s;
      a.push_back(bwd);
      b->Args(a);
    }
  b->ArgNames({"N", "C", "O", "H", "k", "s", "g", "T", "bwd"});
}

}  // namespace

BENCHMARK(BM_conv)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();

// Pooling and resizing on the model's sizes (memory-bound: time only).
//   0: avg_pool2d 16x16 stride 1 on [16, 1, 224, 224] (anomaly score)
//   1: resize_bilinear 112 -> 14 on [8, 16, 112, 112] (feature taps), align_corners
//   2: resize_bilinear 14 -> 224 on [16, 1, 14, 14] (score map), align_corners
//   3: resize_bilinear 56 -> 224 on [16, 1, 56, 56]
//   4: max_pool2d 3x3 stride 2 pad 1 on [8, 64, 112, 112]
static void BM_pool_resize(benchmark::State& state) {
  const int64_t which = state.range(0);
  const bool backward = state.range(1) != 0;
  const std::vector<Shape> in = {{16, 1, 224, 224}, {8, 16, 112, 112}, {16, 1, 14, 14}, {16, 1, 56, 56}, {8, 64, 112, 112}};
  Generator g(0);
  auto x = randn<float>(in[size_t(which)], 0.f, 1.f, g);
  if (backward) x.set_requires_grad();
  auto run = [&] {
    switch (which) {
      case 0: return avg_pool2d(x, {16, 16}, {1, 1});
      case 1: return resize_bilinear(x, 14, 14, true);
      case 2: return resize_bilinear(x, 224, 224, true);
      case 3: return resize_bilinear(x, 224, 224, true);
      default: return max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
    }
  };
  auto gy = randn<float>(run().shape(), 0.f, 1.f, g);
  for (auto _ : state) {
    auto y = run();
    if (backward) {
      y.backward(gy);
      x.zero_grad();
    }
    benchmark::DoNotOptimize(y.data());
  }
}
BENCHMARK(BM_pool_resize)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}})->ArgNames({"op", "bwd"})->Unit(benchmark::kMillisecond)->UseRealTime();

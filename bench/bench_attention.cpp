// Attention: the fused op (flash-style tiles, hand-written backward) against the composite
// (matmul + softmax + dropout + matmul, materialising the T x T weights), forward and
// forward+backward, without a mask, with the neighbour mask, and with the mask + dropout 0.1
// (the model's training setting). BM_attention_strided times the model's own layout: Q, K and V
// are heads of [B, T, H * D] projections, views whose rows are H * D apart, as the decoder passes
// them, rather than packed [B, H, T, D] tensors, and so is the output's gradient (the output
// projection's backward gives it as [B, T, H * D]).
//
// Counters: GFLOP/s with forward = 4 B H T^2 D and backward = 2.5x forward; %peak against the
// in-run large-GEMM rate (bench_common.hpp).
#include "bench_common.hpp"

#include <chrono>

using namespace onenip;

namespace {

enum Mask { kNone = 0, kNeighbour = 1, kNeighbourDropout = 2 };

template <bool kModelLayout>
void BM_attention(benchmark::State& state) {
  const bool composite = state.range(0) != 0, backward = state.range(1) != 0;
  const auto mask_kind = Mask(state.range(2));
  const int64_t B = state.range(3), H = state.range(4), T = state.range(5), D = state.range(6);
  Generator g(0);
  // [B, H, T, D]: packed, or the heads of a [B, T, H * D] tensor (kModelLayout), taken in the
  // timed region so that, as in the model, the gradients flow back through the views to
  // [B, T, H * D] leaves.
  auto leaf = [&] { return randn<float>(kModelLayout ? Shape{B, T, H * D} : Shape{B, H, T, D}, 0.f, 1.f, g); };
  auto heads = [&](const TensorF& x) { return kModelLayout ? x.view({B, T, H, D}).transpose(1, 2) : x; };
  auto q = leaf(), k = leaf(), v = leaf(), w = heads(leaf());
  TensorF mask;
  if (mask_kind != kNone) {
    // T = side^2 tokens, neighbour size side/2 as OneNIP's (docs/onenip.md, section 2)
    int64_t side = int64_t(std::lround(std::sqrt(double(T))));
    mask = neighbour_mask<float>(side, side, side / 2);
  }
  const double p = mask_kind == kNeighbourDropout ? 0.1 : 0.0;
  Generator drop_gen(1);
  auto attend = [&](const TensorF& a, const TensorF& b, const TensorF& c) {
    Generator* gp = p > 0 ? &drop_gen : nullptr;
    return composite ? attention_composite(heads(a), heads(b), heads(c), mask, p, gp)
                     : scaled_dot_product_attention(heads(a), heads(b), heads(c), mask, p, gp);
  };
  if (backward) q.set_requires_grad(), k.set_requires_grad(), v.set_requires_grad();
  double seconds = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    if (backward) {
      auto y = attend(q, k, v);
      y.backward(w);
      benchmark::DoNotOptimize(q.grad().data());
      q.zero_grad(), k.zero_grad(), v.zero_grad();
    } else {
      NoGradGuard ng;
      auto y = attend(q, k, v);
      benchmark::DoNotOptimize(y.data());
    }
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double fwd = 4.0 * double(B) * double(H) * double(T) * double(T) * double(D);
  bench::set_flops_and_peak(state, backward ? 3.5 * fwd : fwd, seconds / double(state.iterations()));
}

// The model's shapes: B sequences of 8 heads, T = 14^2 / 16^2 / 20^2 tokens, head dim 32.
void model_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t T : {196, 256, 400})
    for (int64_t B : {8, 16, 32})
      for (int64_t mask : {kNone, kNeighbour})
        for (int64_t bwd : {0, 1})
          for (int64_t composite : {0, 1}) b->Args({composite, bwd, mask, B, 8, T, 32});
  for (int64_t B : {8, 16, 32})
    for (int64_t composite : {0, 1}) b->Args({composite, 1, kNeighbourDropout, B, 8, 196, 32});
}

// Long sequences. The composite's T x T tensors are 4 B H T^2 bytes each (537 MB at T = 4096,
// H = 8), so T = 4096 runs with 2 heads.
void long_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t D : {64, 128})
    for (int64_t bwd : {0, 1})
      for (int64_t composite : {0, 1}) {
        b->Args({composite, bwd, kNone, 1, 8, 1024, D});
        b->Args({composite, bwd, kNone, 1, 2, 4096, D});
      }
}

// The model's shape in the model's layout, with the neighbour mask (and dropout).
void strided_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t bwd : {0, 1}) b->Args({0, bwd, kNeighbour, 16, 8, 196, 32});
  b->Args({0, 1, kNeighbourDropout, 16, 8, 196, 32});
}

}  // namespace

BENCHMARK_TEMPLATE(BM_attention, false)->Name("BM_attention")->ArgNames({"composite", "bwd", "mask", "B", "H", "T", "D"})
    ->Apply(model_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_TEMPLATE(BM_attention, true)->Name("BM_attention_strided")
    ->ArgNames({"composite", "bwd", "mask", "B", "H", "T", "D"})->Apply(strided_shapes)->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_attention, false)->Name("BM_attention_long")->ArgNames({"composite", "bwd", "mask", "B", "H", "T", "D"})
    ->Apply(long_shapes)->Iterations(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Shared benchmark helpers: FLOP counters and the machine's GEMM peak, measured in-process so
// every suite can report "% of peak" against the same machine in the same run.
#pragma once

#include <benchmark/benchmark.h>
#include <onenip/onenip.hpp>

#include <chrono>

namespace bench {

// Set the "GFLOP" counter (shown as GFLOP/s: a rate) from the FLOPs of one iteration.
inline void set_flops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Large float GEMM rate (GFLOP/s) of this machine with the current thread count, measured
// once per process: best of a few 1024^3 products through the library's matmul.
inline double gemm_peak_gflops() {
  static double peak = [] {
    onenip::Generator g(1);
    auto a = onenip::randn<float>({1024, 1024}, 0.f, 1.f, g), b = onenip::randn<float>({1024, 1024}, 0.f, 1.f, g);
    double best = 0;
    for (int i = 0; i < 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto c = onenip::matmul(a, b);
      benchmark::DoNotOptimize(c.data());
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2.0 * 1024 * 1024 * 1024 / s * 1e-9);
    }
    return best;
  }();
  return peak;
}

// Set GFLOP/s and "% of GEMM peak" (the rate as a fraction of gemm_peak_gflops()).
inline void set_flops_and_peak(benchmark::State& state, double flops_per_iter, double seconds_per_iter) {
  set_flops(state, flops_per_iter);
  if (seconds_per_iter > 0) state.counters["%peak"] = 100.0 * flops_per_iter * 1e-9 / seconds_per_iter / gemm_peak_gflops();
}

}  // namespace bench

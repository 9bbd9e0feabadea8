// What the bandwidth benchmarks share: error checks, the device's peak memory bandwidth, device
// buffers with fixed pseudo-random contents, and a timed (timing.cuh), printed measurement.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "runtime.cuh"
#include "timing.cuh"

namespace onenip::bench {

inline void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

// Peak DRAM bandwidth in GB/s: double data rate x memory clock x bus width.
inline double peak_gbs() {
  int dev = 0, clock_khz = 0, bus_bits = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, dev), "memory clock");
  check(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, dev), "bus width");
  return 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
}

// n floats of device memory filled with values in [lo, lo + 4).
inline float* device_floats(size_t n, unsigned seed, float lo = -2.0f) {
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float((i * 2654435761u + seed) % 4096) / 1024.0f + lo;
  float* p = nullptr;
  check(cudaMalloc(&p, n * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

// Time per call of `run` (timing.cuh's time_ms: at most `iters` calls or 200 ms after warm-up);
// prints one line: time, GB/s for `bytes` moved, share of the peak.
inline void report(const char* what, double bytes, int iters, double peak, const std::function<void()>& run) {
  const double s = time_ms(run, 200, iters) / 1e3, gbs = bytes / s / 1e9;
  std::printf("%-52s %9.1f us %9.1f GB/s %6.1f %% of peak\n", what, s * 1e6, gbs, 100.0 * gbs / peak);
}

// The iteration count from argv[1]; `fallback` when absent or not a positive number
// (bench/gpu_check.sh passes --benchmark_* flags).
inline int iterations(int argc, char** argv, int fallback) {
  const int asked = argc > 1 ? std::atoi(argv[1]) : 0;
  return asked > 0 ? asked : fallback;
}

}  // namespace onenip::bench

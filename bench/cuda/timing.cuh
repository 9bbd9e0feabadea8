// Timing for the GPU benchmarks: milliseconds per call of a function that queues work on the
// library's stream, measured with CUDA events.
#pragma once

#include <cuda_runtime.h>

#include "runtime.cuh"

namespace onenip::bench {

// Milliseconds per call of f, after warm-up calls: repeated until `budget_ms` have passed (at
// least 5 calls, at most `max_calls`), so small sizes are timed as well as large.
template <typename F>
double time_ms(F&& f, float budget_ms = 200, int max_calls = 1000) {
  cudaStream_t s = onenip::cuda::stream();
  for (int i = 0; i < 3; ++i) f();
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0), cudaEventCreate(&t1);
  int iters = 0;
  float ms = 0;
  cudaEventRecord(t0, s);
  do {
    for (int i = 0; i < 5; ++i) f();
    iters += 5;
    cudaEventRecord(t1, s);
    cudaEventSynchronize(t1);
    cudaEventElapsedTime(&ms, t0, t1);
  } while (ms < budget_ms && iters < max_calls);
  cudaEventDestroy(t0), cudaEventDestroy(t1);
  onenip::cuda::synchronize();
  return double(ms) / iters;
}

}  // namespace onenip::bench

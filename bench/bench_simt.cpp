// The SIMT emulator's own costs: a launch, a fiber switch at a barrier, a warp shuffle. They set
// how large an emulated test can be (the emulator is for correctness, never for speed).
#include <benchmark/benchmark.h>

#include "runtime.cuh"

namespace {

__global__ void empty_kernel() {}

// `rounds` barriers: each is one switch per thread into the scheduler and one back.
__global__ void barriers(int rounds) {
  for (int r = 0; r < rounds; ++r) __syncthreads();
}

__global__ void shuffles(int rounds, float* out) {
  float v = float(threadIdx.x);
  for (int r = 0; r < rounds; ++r) v += __shfl_xor_sync(0xffffffffu, v, 1);
  if (threadIdx.x == 0) out[0] = v;
}

onenip::simt::LaunchConfig config(const char* name, unsigned blocks, unsigned threads) {
  onenip::simt::LaunchConfig c;
  c.name = name;
  c.grid = dim3(blocks);
  c.block = dim3(threads);
  return c;
}

// Seconds per item, `items` per iteration (printed with an SI prefix: 50n = 50 ns).
benchmark::Counter per_item(double items) {
  return benchmark::Counter(items, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// Per thread started and finished.
void BM_simt_launch(benchmark::State& state) {
  const unsigned threads = unsigned(state.range(0));
  for (auto _ : state) onenip::simt::launch(config("empty", 64, threads), empty_kernel);
  state.counters["s_per_thread"] = per_item(64.0 * threads);
}
BENCHMARK(BM_simt_launch)->Arg(32)->Arg(256)->Arg(1024);

// Per thread and barrier: two fiber switches.
void BM_simt_barrier(benchmark::State& state) {
  const int rounds = 100;
  for (auto _ : state) onenip::simt::launch(config("barriers", 1, 256), barriers, rounds);
  state.counters["s_per_thread_barrier"] = per_item(256.0 * rounds);
}
BENCHMARK(BM_simt_barrier);

void BM_simt_shuffle(benchmark::State& state) {
  const int rounds = 100;
  float* out = static_cast<float*>(onenip::cuda::caching_allocator().allocate(sizeof(float)));
  for (auto _ : state) onenip::simt::launch(config("shuffles", 1, 256), shuffles, rounds, out);
  state.counters["s_per_lane_shuffle"] = per_item(256.0 * rounds);
  onenip::cuda::caching_allocator().deallocate(out, sizeof(float));
}
BENCHMARK(BM_simt_shuffle);

}  // namespace

// Launch shapes for the grid-stride loops of the flat per-element kernels (batch_norm.cu, pool.cu,
// separable.cu, index.cu, fused_conv.cu, random.cu): a thread per element up to the grid's x
// limit, then each thread strides on by the grid size.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "runtime.cuh"

namespace onenip::cuda {

constexpr unsigned kFlatThreads = 256;

inline unsigned flat_blocks(int64_t n) {
  return unsigned(simt::min_of<int64_t>(simt::ceil_div(n, int64_t(kFlatThreads)), 65535));
}

// The flat index of this thread's first element and the stride to its next.
__device__ __forceinline__ int64_t flat_first() { return int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ int64_t flat_step() { return int64_t(gridDim.x) * blockDim.x; }

// A launch of a flat kernel over n elements, named for errors and the emulator's reports.
inline simt::LaunchConfig flat_launch(const char* name, int64_t n, std::string problem) {
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = std::move(problem);
  cfg.grid = dim3(flat_blocks(n));
  cfg.block = dim3(kFlatThreads);
  return cfg;
}

}  // namespace onenip::cuda

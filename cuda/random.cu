// Random fills and dropout on CUDA: the Philox stream of core/philox.hpp with the CPU kernels'
// exact rules (kernels/problems/random.hpp), so a seeded tensor is the same on every device.
// One thread per Philox block: each block's words are used by 4 (uniform), 2 (normal) or 8
// (dropout) consecutive elements, and computing a block costs more than writing them.
#include <string>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/random.hpp"
#include "grid_stride.cuh"
#include "runtime.cuh"

namespace onenip::kernels {

namespace cuda_random {


template <typename T>
__global__ void uniform_kernel(T* out, int64_t n, T lo, T hi, uint64_t seed, uint64_t base, SampleMap map) {
  const int64_t blocks = (n + 3) / 4, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks; blk += step) {
    const PhiloxBlock r = philox4x32_10(base + map.block(blk, 4), seed);
    for (int64_t j = 0; j < 4 && blk * 4 + j < n; ++j) out[blk * 4 + j] = lo + (hi - lo) * T(philox_unit(r.w[j]));
  }
}

template <typename T>
__global__ void normal_kernel(T* out, int64_t n, T mean, T std, uint64_t seed, uint64_t base, SampleMap map) {
  const int64_t blocks = (n + 1) / 2, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks; blk += step) {
    double z[2];
    box_muller_pair(philox4x32_10(base + map.block(blk, 2), seed), z);
    out[blk * 2] = mean + std * T(z[0]);
    if (blk * 2 + 1 < n) out[blk * 2 + 1] = mean + std * T(z[1]);
  }
}

// out[i] = in[i] * (scale if kept else 0), as the CPU's dropout_factors; everything dropped gives 0.
template <typename T>
__global__ void dropout_kernel(const T* in, T* out, int64_t n, T scale, uint64_t seed, uint64_t base, SampleMap map,
                               uint32_t threshold, bool drop_all) {
  constexpr int64_t per = DropoutMask::kPerBlock;
  const int64_t blocks = (n + per - 1) / per, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t blk = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; blk < blocks; blk += step) {
    const PhiloxBlock r = philox4x32_10(base + map.block(blk, per), seed);
    for (int64_t j = 0; j < per && blk * per + j < n; ++j) {
      const T f = drop_all ? T(0) : scale * T(DropoutMask::keeps(r, j, threshold));
      out[blk * per + j] = in[blk * per + j] * f;
    }
  }
}

}  // namespace cuda_random

template <typename T>
void CudaKernels::random_fill(const RandomFillProblem<T>& p) {
  const bool uniform = p.dist == Distribution::Uniform;
  const int64_t blocks = uniform ? (p.n + 3) / 4 : (p.n + 1) / 2;
  const simt::LaunchConfig cfg =
      cuda::flat_launch(uniform ? "random_fill uniform" : "random_fill normal", blocks, std::to_string(p.n) + " elements");
  if (p.n == 0) return;
  if (uniform) simt::launch(cfg, cuda_random::uniform_kernel<T>, p.out, p.n, p.a, p.b, p.seed, p.base, p.map);
  else simt::launch(cfg, cuda_random::normal_kernel<T>, p.out, p.n, p.a, p.b, p.seed, p.base, p.map);
}

template <typename T>
void CudaKernels::dropout(const DropoutProblem<T>& p) {
  if (p.n == 0) return;
  const DropoutMask& m = *p.mask;  // host memory: its scalars become kernel arguments
  const simt::LaunchConfig cfg = cuda::flat_launch(
      "dropout", (p.n + DropoutMask::kPerBlock - 1) / DropoutMask::kPerBlock, std::to_string(p.n) + " elements");
  simt::launch(cfg, cuda_random::dropout_kernel<T>, p.in, p.out, p.n, p.scale, m.key.seed(), m.base, m.map, m.threshold,
               m.drop_all);
}

template void CudaKernels::random_fill<float>(const RandomFillProblem<float>&);
template void CudaKernels::random_fill<double>(const RandomFillProblem<double>&);
template void CudaKernels::dropout<float>(const DropoutProblem<float>&);
template void CudaKernels::dropout<double>(const DropoutProblem<double>&);

}  // namespace onenip::kernels

// Optimiser updates on CUDA: one fused pass per parameter, the CPU kernel's formula
// (kernels/cpu/optim.hpp) in the same operation order, so the emulator (host compiler, same
// flags) matches the CPU bit for bit. On the GPU nvcc contracts a * b + c into fused
// multiply-adds by its own rules, so results there may differ from the CPU's in the last bits.
#include <string>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/optim.hpp"
#include "runtime.cuh"

namespace onenip::kernels {

namespace cuda_optim {

constexpr int kThreads = 256;

template <typename T>
__global__ void adamw_kernel(AdamWProblem<T> q) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < q.n; k += step) {
    T gk = q.g[k], pk = q.p[k], mk = q.m[k], vk = q.v[k];
    if (q.decoupled) pk *= q.decay;
    else if (q.use_l2) gk += q.l2 * pk;
    mk += q.w1 * (gk - mk);
    vk = vk * q.b2 + q.w2 * gk * gk;
    pk += -q.step_size * (mk / (std::sqrt(vk) / q.bc2_sqrt + q.eps));
    q.p[k] = pk, q.m[k] = mk, q.v[k] = vk;
  }
}

}  // namespace cuda_optim

template <typename T>
void CudaKernels::adamw_step(const AdamWProblem<T>& p) {
  simt::LaunchConfig cfg;
  cfg.name = "adamw_step";
  cfg.problem = std::to_string(p.n) + " elements";
  cfg.grid = dim3(unsigned(simt::min_of<int64_t>(simt::ceil_div(p.n, cuda_optim::kThreads), 65535)));
  cfg.block = dim3(cuda_optim::kThreads);
  if (p.n > 0) simt::launch(cfg, cuda_optim::adamw_kernel<T>, p);
}

template void CudaKernels::adamw_step<float>(const AdamWProblem<float>&);
template void CudaKernels::adamw_step<double>(const AdamWProblem<double>&);

}  // namespace onenip::kernels

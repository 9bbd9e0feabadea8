// The folded backbones' fused inference convolutions on CUDA (kernels/fused_conv.hpp): the
// pointwise conv is conv2d's implicit GEMM with its epilogue (bias, activation, residual), the
// depthwise conv the depthwise kernel with its activation and per-plane means (both in
// conv_kernels.cuh); the squeeze-excitation gate, the column scaling and the in-place activation
// are small kernels of their own. Deterministic: fixed-order sums, no atomics.
#include "conv_kernels.cuh"
#include "grid_stride.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/fused_conv.hpp"

namespace onenip::kernels {

namespace fused_conv_cuda {

template <typename T>
__global__ void activation_kernel(T* y, int64_t n, Activation act) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) y[i] = conv_cuda::activate(y[i], act);
}

// out [rows, cols] = w [rows, cols] scale[col].
template <typename T>
__global__ void scale_columns_kernel(const T* w, const T* scale, T* out, int64_t rows, int64_t cols) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * cols; i += step)
    out[i] = w[i] * scale[i % cols];
}

// One block: hidden [S] = swish(w1 means + b1) in shared memory, then gate [C] = sigmoid(w2 hidden
// + b2), each element one thread's sum in index order.
template <typename T>
__global__ void squeeze_excite_kernel(const T* means, const T* w1, const T* b1, const T* w2, const T* b2, T* gate,
                                      int64_t C, int64_t S) {
  ONENIP_DYNAMIC_SHARED(T, hidden);
  for (int64_t s = threadIdx.x; s < S; s += blockDim.x) {
    T h = T(0);
    for (int64_t c = 0; c < C; ++c) h += w1[s * C + c] * means[c];
    hidden[s] = conv_cuda::activate(h + b1[s], Activation::Swish);
  }
  __syncthreads();
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    T g = T(0);
    for (int64_t s = 0; s < S; ++s) g += w2[c * S + s] * hidden[s];
    gate[c] = T(1) / (T(1) + std::exp(-(g + b2[c])));
  }
}

}  // namespace fused_conv_cuda

template <typename T>
void CudaKernels::activation_inplace(const ActivationProblem<T>& p) {
  if (p.act == Activation::None) return;
  simt::launch(cuda::flat_launch("activation_inplace", p.n, std::to_string(p.n) + " elements"), fused_conv_cuda::activation_kernel<T>, p.y,
               p.n, p.act);
}

template <typename T>
void CudaKernels::pointwise_conv_fused(const PointwiseConvProblem<T>& p) {
  conv_cuda::ConvGemmArgs<T> a;
  a.g.N = 1, a.g.C = p.C, a.g.H = 1, a.g.W = p.P, a.g.O = p.O, a.g.Ho = 1, a.g.Wo = p.P;  // 1x1: pixels as one row
  a.x = p.x, a.w = p.w, a.out = p.y, a.bias = p.bias, a.residual = p.residual, a.act = p.act;
  a.rows = p.O, a.cols = p.P, a.depth = p.C, a.part_len = simt::max_of<int64_t>(p.C, 1);
  conv_cuda::launch_conv_gemm<conv_cuda::ConvPass::Forward>("pointwise_conv_fused", a);
}

template <typename T>
void CudaKernels::depthwise_conv_fused(const DepthwiseConvProblem<T>& p) {
  conv_cuda::depthwise_forward("depthwise_conv_fused", p.geom, p.x, p.w, p.bias, p.act, p.y, p.means);
}

template <typename T>
void CudaKernels::squeeze_excite_gate(const SqueezeExciteProblem<T>& p) {
  if (p.C == 0) return;
  simt::LaunchConfig cfg;
  cfg.name = "squeeze_excite_gate";
  cfg.problem = "C " + std::to_string(p.C) + ", S " + std::to_string(p.S);
  cfg.grid = dim3(1);
  cfg.block = dim3(cuda::kFlatThreads);  // one block: its threads stride over S, then C
  cfg.dynamic_shared = size_t(simt::max_of<int64_t>(p.S, 1)) * sizeof(T);
  simt::launch(cfg, fused_conv_cuda::squeeze_excite_kernel<T>, p.means, p.w1, p.b1, p.w2, p.b2, p.gate, p.C, p.S);
}

template <typename T>
void CudaKernels::scale_columns(const ScaleColumnsProblem<T>& p) {
  simt::launch(cuda::flat_launch("scale_columns", p.rows * p.cols, std::to_string(p.rows * p.cols) + " elements"), fused_conv_cuda::scale_columns_kernel<T>,
               p.w, p.scale, p.out, p.rows, p.cols);
}

#define ONENIP_FUSED_CONV_INSTANTIATE(T)                                                    \
  template void CudaKernels::activation_inplace<T>(const ActivationProblem<T>&);           \
  template void CudaKernels::pointwise_conv_fused<T>(const PointwiseConvProblem<T>&);      \
  template void CudaKernels::depthwise_conv_fused<T>(const DepthwiseConvProblem<T>&);      \
  template void CudaKernels::squeeze_excite_gate<T>(const SqueezeExciteProblem<T>&);       \
  template void CudaKernels::scale_columns<T>(const ScaleColumnsProblem<T>&);
ONENIP_FUSED_CONV_INSTANTIATE(float)
ONENIP_FUSED_CONV_INSTANTIATE(double)
#undef ONENIP_FUSED_CONV_INSTANTIATE

}  // namespace onenip::kernels

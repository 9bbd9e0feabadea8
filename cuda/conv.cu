// conv2d on CUDA: forward, input gradient (also conv_transpose2d's forward) and weight gradient
// as implicit GEMMs (a small weight's gradient a block per element), depthwise convs by their own
// kernels (all in conv_kernels.cuh), and the bias gradient (channel_sum). Exact FP32 / FP64 math;
// deterministic: no atomics anywhere.
#include "conv_kernels.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/conv.hpp"
#include "onenip/kernels/problems/reduce.hpp"

namespace onenip::kernels {

namespace conv_cuda {

template <typename T>
ConvGemmArgs<T> gemm_args(const ConvProblem<T>& p) {
  ConvGemmArgs<T> a;
  a.g = p.geom;
  a.x = p.x, a.w = p.w, a.y = p.y;
  return a;
}

// The weight gradient's sum over N*P in runs: enough blocks to fill a GPU when the weight is
// small, the per-run scratch bounded. Fixed by the sizes alone, so the bits never vary.
inline int64_t weight_grad_part_len(int64_t depth, int64_t weight_size) {
  constexpr int64_t kMinRun = 64, kMaxParts = 256, kMaxScratch = int64_t(1) << 24;
  const int64_t parts = simt::max_of<int64_t>(
      1, simt::min_of(kMaxParts, simt::min_of(simt::ceil_div(depth, kMinRun), kMaxScratch / weight_size)));
  return simt::max_of<int64_t>(kSlice, simt::ceil_div(simt::ceil_div(depth, parts), kSlice) * kSlice);
}

}  // namespace conv_cuda

template <typename T>
void CudaKernels::conv2d(const ConvProblem<T>& p) {
  const ConvGeom& g = p.geom;
  if (g.depthwise()) return conv_cuda::depthwise_forward("conv2d (depthwise)", g, static_cast<const T*>(p.x),
                                                         static_cast<const T*>(p.w), p.bias, Activation::None, p.y,
                                                         static_cast<T*>(nullptr));
  conv_cuda::ConvGemmArgs<T> a = conv_cuda::gemm_args(p);
  a.out = p.y, a.bias = p.bias;
  a.rows = g.Og(), a.cols = g.N * g.P(), a.depth = g.K(), a.part_len = simt::max_of<int64_t>(a.depth, 1);
  conv_cuda::launch_conv_gemm<conv_cuda::ConvPass::Forward>("conv2d", a);
}

template <typename T>
void CudaKernels::conv2d_grad_input(const ConvProblem<T>& p) {
  const ConvGeom& g = p.geom;
  if (g.depthwise()) {
    simt::launch(conv_cuda::plane_launch("conv2d_grad_input (depthwise)", g, conv_cuda::plane_blocks(g.N * g.C)),
                 conv_cuda::depthwise_grad_input_kernel<T>, g, static_cast<const T*>(p.y), static_cast<const T*>(p.w),
                 p.bias, p.x);
    return;
  }
  conv_cuda::ConvGemmArgs<T> a = conv_cuda::gemm_args(p);
  a.out = p.x, a.bias = p.bias;
  a.rows = g.Cg(), a.cols = g.N * g.H * g.W, a.depth = g.Og() * g.kh * g.kw;
  a.part_len = simt::max_of<int64_t>(a.depth, 1);
  conv_cuda::launch_conv_gemm<conv_cuda::ConvPass::GradInput>("conv2d_grad_input", a);
}

template <typename T>
void CudaKernels::conv2d_grad_weight(const ConvProblem<T>& p) {
  const ConvGeom& g = p.geom;
  if (g.depthwise()) {
    simt::LaunchConfig cfg = conv_cuda::plane_launch("conv2d_grad_weight (depthwise)", g, unsigned(g.kh * g.kw));
    ONENIP_CHECK(g.C <= 65535, "conv2d_grad_weight: ", g.C, " depthwise channels exceed the grid");
    cfg.grid.y = unsigned(g.C);
    simt::launch(cfg, conv_cuda::depthwise_grad_weight_kernel<T>, g, static_cast<const T*>(p.x),
                 static_cast<const T*>(p.y), p.w);
    return;
  }
  conv_cuda::ConvGemmArgs<T> a = conv_cuda::gemm_args(p);
  const int64_t weight_size = g.O * g.K(), depth = g.N * g.P();
  a.rows = g.Og(), a.cols = g.K(), a.depth = depth;
  if (a.rows * a.cols <= conv_cuda::kDotMaxWeights) {
    a.out = p.w;
    simt::LaunchConfig cfg;
    cfg.name = "conv2d_grad_weight (a block per weight)";
    cfg.problem = std::to_string(a.rows * a.cols) + " weights per group, " + std::to_string(g.groups) +
                  " groups, depth " + std::to_string(depth);
    ONENIP_CHECK(g.groups <= 65535, "conv2d_grad_weight: ", g.groups, " groups exceed the grid");
    cfg.grid = dim3(unsigned(a.rows * a.cols), unsigned(g.groups));
    cfg.block = dim3(conv_cuda::kGemmThreads);
    simt::launch(cfg, conv_cuda::weight_grad_dot_kernel<T>, a);
    return;
  }
  a.part_len = conv_cuda::weight_grad_part_len(depth, simt::max_of<int64_t>(weight_size, 1));
  a.parts = simt::max_of<int64_t>(1, simt::ceil_div(depth, a.part_len));
  if (a.parts == 1) {
    a.out = p.w;
    conv_cuda::launch_conv_gemm<conv_cuda::ConvPass::GradWeight>("conv2d_grad_weight", a);
    return;
  }
  cuda::DeviceScratch<T> parts(size_t(a.parts * weight_size));
  a.out = parts.p;
  conv_cuda::launch_conv_gemm<conv_cuda::ConvPass::GradWeight>("conv2d_grad_weight", a);
  CudaKernels::sum<T>(SumProblem<T>{p.device, 1, a.parts, weight_size, parts.p, p.w});
}

// out [C] = sum over n, then over pixels, of g [N, C, P]: two fixed-order sums.
template <typename T>
void CudaKernels::channel_sum(const ChannelSumProblem<T>& p) {
  if (p.N == 1) return CudaKernels::sum<T>(SumProblem<T>{p.device, p.C, p.P, 1, p.g, p.out});
  cuda::DeviceScratch<T> per_image(size_t(p.N * p.C));
  CudaKernels::sum<T>(SumProblem<T>{p.device, p.N * p.C, p.P, 1, p.g, per_image.p});
  CudaKernels::sum<T>(SumProblem<T>{p.device, 1, p.N, p.C, per_image.p, p.out});
}

#define ONENIP_CONV_INSTANTIATE(T)                                              \
  template void CudaKernels::conv2d<T>(const ConvProblem<T>&);                 \
  template void CudaKernels::conv2d_grad_input<T>(const ConvProblem<T>&);      \
  template void CudaKernels::conv2d_grad_weight<T>(const ConvProblem<T>&);     \
  template void CudaKernels::channel_sum<T>(const ChannelSumProblem<T>&);
ONENIP_CONV_INSTANTIATE(float)
ONENIP_CONV_INSTANTIATE(double)
#undef ONENIP_CONV_INSTANTIATE

}  // namespace onenip::kernels

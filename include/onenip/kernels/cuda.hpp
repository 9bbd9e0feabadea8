// The CUDA backend's kernels as the dispatch layer sees them: declarations only, no CUDA header.
// Included by dispatch.hpp when the program links a CUDA backend (ONENIP_WITH_CUDA, set by the
// onenip::cuda and onenip::cuda_emulated targets); the definitions live in cuda/<family>.cu.
//
// A kernel family the backend does not implement yet is simply absent from CudaKernels: the
// dispatch finds no member of that name and reports "no implementation for device 'cuda'".
#pragma once

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>

#include "functors.hpp"

namespace onenip::kernels {

template <typename T, size_t N> struct PointwiseProblem;
template <typename U, typename T> struct ConvertProblem;
struct TransferProblem;
template <typename T> struct SumProblem;
template <typename T> struct ArgExtremeProblem;
template <typename T> struct SumOfSquaresProblem;
template <typename T> struct SoftmaxProblem;
template <typename T> struct SoftmaxBackwardProblem;
template <typename T> struct LayerNormProblem;
template <typename T> struct LayerNormBackwardProblem;
template <typename T> struct RMSNormProblem;
template <typename T> struct RMSNormBackwardProblem;
template <typename T> struct GemmProblem;
template <typename T> struct AdamWProblem;
template <typename T> struct RandomFillProblem;
template <typename T> struct DropoutProblem;
template <typename T> struct ConvProblem;
template <typename T> struct ChannelSumProblem;
template <typename T> struct ActivationProblem;
template <typename T> struct PointwiseConvProblem;
template <typename T> struct DepthwiseConvProblem;
template <typename T> struct SqueezeExciteProblem;
template <typename T> struct ScaleColumnsProblem;
template <typename T> struct AttentionProblem;
template <typename T> struct BatchNormProblem;
template <typename T> struct BatchNormBackwardProblem;
template <typename T> struct MaxPoolProblem;
template <typename T> struct SeparableProblem;
template <typename T> struct IndexSelectProblem;
template <typename T> struct GatherProblem;

struct CudaKernels {
  static void transfer(const TransferProblem& p);                          // cuda/runtime.cu
  template <typename T> static void sum(const SumProblem<T>& p);                          // cuda/reduce.cu
  template <typename T> static void arg_extreme(const ArgExtremeProblem<T>& p);
  template <typename T> static double sum_of_squares(const SumOfSquaresProblem<T>& p);
  template <typename T> static void softmax(const SoftmaxProblem<T>& p);                  // cuda/softmax.cu
  template <typename T> static void softmax_backward(const SoftmaxBackwardProblem<T>& p);
  template <typename T> static void layer_norm(const LayerNormProblem<T>& p);             // cuda/norm.cu
  template <typename T> static void layer_norm_backward(const LayerNormBackwardProblem<T>& p);
  template <typename T> static void rms_norm(const RMSNormProblem<T>& p);
  template <typename T> static void rms_norm_backward(const RMSNormBackwardProblem<T>& p);
  template <typename T, size_t N, typename F>
    requires fn::is_listed_functor<F, T>  // a lambda has no device code: the CPU only
  static void pointwise(const PointwiseProblem<T, N>& p, const F& f);     // cuda/elementwise.cu
  template <typename U, typename T>
  static void convert(const ConvertProblem<U, T>& p);
  template <typename T>
  static void gemm(const GemmProblem<T>& p);                               // cuda/gemm.cu
  template <typename T>
  static void random_fill(const RandomFillProblem<T>& p);                  // cuda/random.cu
  template <typename T>
  static void dropout(const DropoutProblem<T>& p);
  template <typename T>
  static void adamw_step(const AdamWProblem<T>& p);                        // cuda/optim.cu
  template <typename T> static void conv2d(const ConvProblem<T>& p);                      // cuda/conv.cu
  template <typename T> static void conv2d_grad_input(const ConvProblem<T>& p);
  template <typename T> static void conv2d_grad_weight(const ConvProblem<T>& p);
  template <typename T> static void channel_sum(const ChannelSumProblem<T>& p);
  template <typename T> static void activation_inplace(const ActivationProblem<T>& p);    // cuda/fused_conv.cu
  template <typename T> static void pointwise_conv_fused(const PointwiseConvProblem<T>& p);
  template <typename T> static void depthwise_conv_fused(const DepthwiseConvProblem<T>& p);
  template <typename T> static void squeeze_excite_gate(const SqueezeExciteProblem<T>& p);
  template <typename T> static void scale_columns(const ScaleColumnsProblem<T>& p);
  template <typename T>
  static void attention(const AttentionProblem<T>& p);                     // cuda/attention.cu
  template <typename T>
  static void attention_backward(const AttentionProblem<T>& p);
  template <typename T> static void batch_norm(const BatchNormProblem<T>& p);             // cuda/batch_norm.cu
  template <typename T> static void batch_norm_backward(const BatchNormBackwardProblem<T>& p);
  template <typename T> static void max_pool2d(const MaxPoolProblem<T>& p);               // cuda/pool.cu
  template <typename T> static void max_pool2d_backward(const MaxPoolProblem<T>& p);
  template <typename T> static void separable(const SeparableProblem<T>& p);              // cuda/separable.cu
  template <typename T> static void index_select(const IndexSelectProblem<T>& p);         // cuda/index.cu
  template <typename T> static void index_add(const IndexSelectProblem<T>& p);
  template <typename T> static void gather(const GatherProblem<T>& p);
  template <typename T> static void scatter_add(const GatherProblem<T>& p);
};

// CudaKernels seen through a type that depends on the call's arguments, so that a missing member
// is a substitution failure (a `requires` that is false) rather than an error.
template <typename Args>
using CudaKernelsFor = std::conditional_t<sizeof(Args) != 0, CudaKernels, void>;

}  // namespace onenip::kernels

// The CUDA case of ONENIP_DISPATCH.
#define ONENIP_CUDA_CASE(device, name, ...)                                                                   \
  case ::onenip::Device::CUDA:                                                                                \
    if constexpr (requires { ::onenip::kernels::CudaKernelsFor<decltype(std::tie(__VA_ARGS__))>::name(__VA_ARGS__); }) \
      return ::onenip::kernels::CudaKernelsFor<decltype(std::tie(__VA_ARGS__))>::name(__VA_ARGS__);          \
    else                                                                                                      \
      ::onenip::kernels::no_kernel(#name, device);

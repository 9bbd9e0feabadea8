// Pointwise kernels on CUDA: one strided, broadcasting loop for every elementwise op (the named
// functors of kernels/functors.hpp), and dtype conversion.
#include <utility>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/elementwise.hpp"
#include "runtime.cuh"

namespace onenip::kernels {

namespace {

constexpr int kMaxDims = 8;
constexpr int kThreads = 256;

// Operand k's element at logical index i is data[k][sum_d coord_d(i) stride[k][d]].
template <typename T, size_t N>
struct PointwiseArgs {
  T* data[N];
  int64_t size[kMaxDims];
  int64_t stride[N][kMaxDims];
  int ndim = 0;
  int64_t n = 0;
  bool contiguous = false;  // every operand dense in the same order: offsets equal i
};

template <typename T, size_t N, typename F, size_t... I>
__device__ __forceinline__ T apply_inputs(const F& f, T* const* data, const int64_t* off, std::index_sequence<I...>) {
  return f(data[I + 1][off[I + 1]]...);
}

template <typename T, size_t N, typename F>
__global__ void pointwise_kernel(PointwiseArgs<T, N> a, F f) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < a.n; i += step) {
    int64_t off[N];
    if (a.contiguous) {
      for (size_t k = 0; k < N; ++k) off[k] = i;
    } else {
      for (size_t k = 0; k < N; ++k) off[k] = 0;
      int64_t rem = i;
      for (int d = a.ndim - 1; d >= 0; --d) {
        const int64_t c = rem % a.size[d];
        rem /= a.size[d];
        for (size_t k = 0; k < N; ++k) off[k] += c * a.stride[k][d];
      }
    }
    a.data[0][off[0]] = apply_inputs<T, N>(f, a.data, off, std::make_index_sequence<N - 1>{});
  }
}

template <typename U, typename T>
__global__ void convert_kernel(const T* src, U* dst, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) dst[i] = U(src[i]);
}

// Blocks for a grid-stride loop over n elements.
unsigned blocks_for(int64_t n) { return unsigned(simt::min_of<int64_t>(simt::ceil_div(n, kThreads), 65535)); }

}  // namespace

template <typename T, size_t N, typename F>
  requires fn::is_listed_functor<F, T>
void CudaKernels::pointwise(const PointwiseProblem<T, N>& p, const F& f) {
  PointwiseArgs<T, N> a{};
  a.n = numel_of(p.shape);
  if (a.n == 0) return;
  Shape shape = p.shape;
  std::array<Shape, N> strides = p.strides;
  coalesce_dims<N>(shape, strides);
  ONENIP_CHECK(shape.size() <= size_t(kMaxDims), "pointwise (cuda): ", shape.size(),
               " dims that cannot be merged (at most ", kMaxDims, ")");
  a.ndim = int(shape.size());
  a.contiguous = shape.size() == 1;
  for (size_t k = 0; k < N; ++k) {
    a.data[k] = p.data[k];
    a.contiguous &= strides[k][0] == 1;
    for (size_t d = 0; d < shape.size(); ++d) a.stride[k][d] = strides[k][d];
  }
  for (size_t d = 0; d < shape.size(); ++d) a.size[d] = shape[d];
  simt::LaunchConfig cfg;
  cfg.name = "pointwise";
  cfg.problem = "shape " + shape_str(p.shape) + ", " + std::to_string(N) + " operands";
  cfg.grid = dim3(blocks_for(a.n));
  cfg.block = dim3(kThreads);
  simt::launch(cfg, pointwise_kernel<T, N, F>, a, f);
}

template <typename U, typename T>
void CudaKernels::convert(const ConvertProblem<U, T>& p) {
  simt::LaunchConfig cfg;
  cfg.name = "convert";
  cfg.problem = std::to_string(p.n) + " elements";
  cfg.grid = dim3(blocks_for(p.n));
  cfg.block = dim3(kThreads);
  if (p.n > 0) simt::launch(cfg, convert_kernel<U, T>, p.src, p.dst, p.n);
}

#define ONENIP_POINTWISE_N(T, F, N) template void CudaKernels::pointwise<T, N, F>(const PointwiseProblem<T, N>&, const F&);
#define ONENIP_POINTWISE_0(T, F) ONENIP_POINTWISE_N(T, F, 1)
#define ONENIP_POINTWISE_1(T, F) ONENIP_POINTWISE_N(T, F, 2)
#define ONENIP_POINTWISE_2(T, F) ONENIP_POINTWISE_N(T, F, 3)
#define ONENIP_POINTWISE_3(T, F) ONENIP_POINTWISE_N(T, F, 4)
#define ONENIP_POINTWISE_GRAD(T, F) ONENIP_POINTWISE_N(T, ::onenip::fn::GradOf<F>, 4)
#define ONENIP_POINTWISE_ALL(T)                        \
  ONENIP_NULLARY_FUNCTORS(ONENIP_POINTWISE_0, T)       \
  ONENIP_UNARY_FUNCTORS(ONENIP_POINTWISE_1, T)         \
  ONENIP_BINARY_FUNCTORS(ONENIP_POINTWISE_2, T)        \
  ONENIP_TERNARY_FUNCTORS(ONENIP_POINTWISE_3, T)       \
  ONENIP_UNARY_GRAD_FUNCTORS(ONENIP_POINTWISE_GRAD, T)
ONENIP_POINTWISE_ALL(float)
ONENIP_POINTWISE_ALL(double)

template void CudaKernels::convert<float, double>(const ConvertProblem<float, double>&);
template void CudaKernels::convert<double, float>(const ConvertProblem<double, float>&);
template void CudaKernels::convert<float, float>(const ConvertProblem<float, float>&);
template void CudaKernels::convert<double, double>(const ConvertProblem<double, double>&);

}  // namespace onenip::kernels

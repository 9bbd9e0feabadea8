// softmax and log_softmax on CUDA, and their backward from the output. Rows along the last axis
// (inner == 1) get a warp each (up to 1024 long) or a block each: one online pass for the max
// and the sum of exponentials, one pass to write. Rows along another axis (inner > 1) get a
// thread each, so neighbouring threads read neighbouring columns. All -inf rows follow the CPU:
// softmax 0, log_softmax -inf.
#include <cmath>
#include <limits>
#include <string>

#include "block_reduce.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/softmax.hpp"

namespace onenip::kernels {

namespace {
namespace softmax_detail {

using cuda::group_allreduce;
using cuda::Pair;
using cuda::RowGroup;

template <typename T>
__device__ __forceinline__ T neg_inf() { return -std::numeric_limits<T>::infinity(); }

// Running max a and sum b of exp(x - a); a = -inf, b = 0 while only -inf has been seen.
template <typename T>
__device__ __forceinline__ Pair<T, T> online_add(Pair<T, T> ms, T v) {
  if (v == neg_inf<T>()) return ms;
  if (v > ms.a) return {v, ms.b * std::exp(ms.a - v) + T(1)};
  return {ms.a, ms.b + std::exp(v - ms.a)};
}

struct MaxSumOp {
  template <typename T>
  __device__ __forceinline__ Pair<T, T> operator()(Pair<T, T> x, Pair<T, T> y) const {
    // "+ 0" turns -0 into +0, so that max(-0, +0) and max(+0, -0) are the same bits.
    const T m = (x.a < y.a ? y.a : x.a) + T(0);
    if (m == neg_inf<T>()) return {m, T(0)};
    const T sx = x.a == neg_inf<T>() ? T(0) : x.b * std::exp(x.a - m);
    const T sy = y.a == neg_inf<T>() ? T(0) : y.b * std::exp(y.a - m);
    return {m, sx + sy};
  }
};

// y from x and a row's (max, sum of exp): softmax, or log_softmax (Log).
template <bool Log, typename T>
__device__ __forceinline__ T softmax_value(T x, Pair<T, T> ms, T inv_sum, T log_shift) {
  if constexpr (Log) return x - log_shift;
  else return x == neg_inf<T>() ? T(0) : std::exp(x - ms.a) * inv_sum;
}
template <typename T>
__device__ __forceinline__ T inverse_sum(Pair<T, T> ms) { return ms.b > T(0) ? T(1) / ms.b : T(0); }
template <typename T>
__device__ __forceinline__ T log_shift(Pair<T, T> ms) {
  return ms.a == neg_inf<T>() ? std::numeric_limits<T>::infinity() : ms.a + std::log(ms.b);
}

template <bool Warp, bool Log, typename T>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t len) {
  using MaxSum = Pair<T, T>;
  ONENIP_SHARED(MaxSum[32], buf);
  const RowGroup<Warp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* xr = x + r * len;
    T* yr = y + r * len;
    Pair<T, T> ms{neg_inf<T>(), T(0)};
    for (int64_t i = g.lane; i < len; i += g.size) ms = online_add(ms, xr[i]);
    ms = group_allreduce<Warp>(ms, MaxSumOp{}, buf);
    const T inv = inverse_sum(ms), shift = log_shift(ms);
    for (int64_t i = g.lane; i < len; i += g.size) yr[i] = softmax_value<Log>(xr[i], ms, inv, shift);
  }
}

// One thread per (outer, inner) column of x [outer, len, inner].
template <bool Log, typename T>
__global__ void softmax_columns_kernel(const T* x, T* y, int64_t outer, int64_t len, int64_t inner) {
  const int64_t n = outer * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += step) {
    const int64_t off = (k / inner) * len * inner + k % inner;
    Pair<T, T> ms{neg_inf<T>(), T(0)};
    for (int64_t i = 0; i < len; ++i) ms = online_add(ms, x[off + i * inner]);
    const T inv = inverse_sum(ms), shift = log_shift(ms);
    for (int64_t i = 0; i < len; ++i) y[off + i * inner] = softmax_value<Log>(x[off + i * inner], ms, inv, shift);
  }
}

// softmax: dx = y (g - sum(g y)); log_softmax: dx = g - exp(y) sum(g).
template <bool Log, typename T>
__device__ __forceinline__ T backward_term(T y, T g) { return Log ? g : g * y; }
template <bool Log, typename T>
__device__ __forceinline__ T backward_value(T y, T g, T s) {
  if constexpr (Log) return g - std::exp(y) * s;
  else return y * (g - s);
}

template <bool Warp, bool Log, typename T>
__global__ void softmax_backward_rows_kernel(const T* y, const T* g, T* dx, int64_t rows, int64_t len) {
  ONENIP_SHARED(T[32], buf);
  const RowGroup<Warp> grp;
  for (int64_t r = grp.first; r < rows; r += grp.step) {
    const int64_t off = r * len;
    T s = T(0);
    for (int64_t i = grp.lane; i < len; i += grp.size) s += backward_term<Log>(y[off + i], g[off + i]);
    s = group_allreduce<Warp>(s, cuda::SumOp{}, buf);
    for (int64_t i = grp.lane; i < len; i += grp.size) dx[off + i] = backward_value<Log>(y[off + i], g[off + i], s);
  }
}

template <bool Log, typename T>
__global__ void softmax_backward_columns_kernel(const T* y, const T* g, T* dx, int64_t outer, int64_t len,
                                                int64_t inner) {
  const int64_t n = outer * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += step) {
    const int64_t off = (k / inner) * len * inner + k % inner;
    T s = T(0);
    for (int64_t i = 0; i < len; ++i) s += backward_term<Log>(y[off + i * inner], g[off + i * inner]);
    for (int64_t i = 0; i < len; ++i)
      dx[off + i * inner] = backward_value<Log>(y[off + i * inner], g[off + i * inner], s);
  }
}

// Launch shape for p: a warp or a block per row (inner == 1), or a thread per column.
template <typename P>
simt::LaunchConfig softmax_config(const char* name, const P& p, bool& rows, bool& warp) {
  rows = p.inner == 1;
  warp = cuda::warp_rows(p.len);
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = "outer " + std::to_string(p.outer) + ", len " + std::to_string(p.len) + ", inner " +
                std::to_string(p.inner) + (p.log ? ", log" : "");
  cfg.block = dim3(cuda::kRowThreads);
  cfg.grid = dim3(rows ? cuda::row_blocks(p.outer, warp)
                       : unsigned(simt::min_of<int64_t>(simt::ceil_div(p.outer * p.inner, cuda::kRowThreads), 65535)));
  return cfg;
}

template <bool Log, typename T>
void softmax_forward(const SoftmaxProblem<T>& p) {
  bool rows = false, warp = false;
  const simt::LaunchConfig cfg = softmax_config(Log ? "log_softmax" : "softmax", p, rows, warp);
  if (!rows) simt::launch(cfg, softmax_columns_kernel<Log, T>, p.x, p.y, p.outer, p.len, p.inner);
  else if (warp) simt::launch(cfg, softmax_rows_kernel<true, Log, T>, p.x, p.y, p.outer, p.len);
  else simt::launch(cfg, softmax_rows_kernel<false, Log, T>, p.x, p.y, p.outer, p.len);
}

template <bool Log, typename T>
void softmax_backward_impl(const SoftmaxBackwardProblem<T>& p) {
  bool rows = false, warp = false;
  const simt::LaunchConfig cfg = softmax_config(Log ? "log_softmax_backward" : "softmax_backward", p, rows, warp);
  if (!rows) simt::launch(cfg, softmax_backward_columns_kernel<Log, T>, p.y, p.g, p.dx, p.outer, p.len, p.inner);
  else if (warp) simt::launch(cfg, softmax_backward_rows_kernel<true, Log, T>, p.y, p.g, p.dx, p.outer, p.len);
  else simt::launch(cfg, softmax_backward_rows_kernel<false, Log, T>, p.y, p.g, p.dx, p.outer, p.len);
}

}  // namespace softmax_detail
}  // namespace

template <typename T>
void CudaKernels::softmax(const SoftmaxProblem<T>& p) {
  if (p.outer * p.len * p.inner == 0) return;
  if (p.log) softmax_detail::softmax_forward<true>(p);
  else softmax_detail::softmax_forward<false>(p);
}

template <typename T>
void CudaKernels::softmax_backward(const SoftmaxBackwardProblem<T>& p) {
  if (p.outer * p.len * p.inner == 0) return;
  if (p.log) softmax_detail::softmax_backward_impl<true>(p);
  else softmax_detail::softmax_backward_impl<false>(p);
}

template void CudaKernels::softmax<float>(const SoftmaxProblem<float>&);
template void CudaKernels::softmax<double>(const SoftmaxProblem<double>&);
template void CudaKernels::softmax_backward<float>(const SoftmaxBackwardProblem<float>&);
template void CudaKernels::softmax_backward<double>(const SoftmaxBackwardProblem<double>&);

}  // namespace onenip::kernels

// Reductions on CUDA: sums along one axis, max / min with the first index, and a sum of
// squares in double. Every sum is a fixed tree (block_reduce.cuh) or a per-thread loop in index
// order; long reductions are cut into segments whose size depends only on the problem's sizes,
// summed into scratch and then reduced again, so results never depend on timing or the GPU.
#include <string>
#include <vector>

#include "block_reduce.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/reduce.hpp"

namespace onenip::kernels {

namespace {
namespace reduce_detail {

using cuda::group_allreduce;
using cuda::kRowThreads;
using cuda::RowGroup;

// out[r * nseg + s] = sum of segment s (seg_len long, the last one shorter) of row r of in
// [rows, len]: one warp or one block per segment.
template <bool Warp, typename T>
__global__ void row_sum_kernel(const T* in, T* out, int64_t rows, int64_t len, int64_t seg_len, int64_t nseg) {
  ONENIP_SHARED(T[32], buf);
  const RowGroup<Warp> g;
  for (int64_t k = g.first; k < rows * nseg; k += g.step) {
    const int64_t r = k / nseg, begin = (k % nseg) * seg_len, end = simt::min_of(len, begin + seg_len);
    const T* row = in + r * len;
    T acc = T(0);
    for (int64_t i = begin + g.lane; i < end; i += g.size) acc += row[i];
    acc = group_allreduce<Warp>(acc, cuda::SumOp{}, buf);
    if (g.lane == 0) out[k] = acc;
  }
}

// out[o, s, c] = sum over segment s of in[o, :, c] (in [outer, len, inner]): one thread per
// output element, adding whole rows in index order (reads are contiguous along inner).
template <typename T>
__global__ void column_sum_kernel(const T* in, T* out, int64_t outer, int64_t len, int64_t inner, int64_t seg_len,
                                  int64_t nseg) {
  const int64_t n = outer * nseg * inner, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += step) {
    const int64_t c = k % inner, s = (k / inner) % nseg, o = k / (inner * nseg);
    const int64_t begin = s * seg_len, end = simt::min_of(len, begin + seg_len);
    const T* src = in + o * len * inner + c;
    T acc = T(0);
    for (int64_t i = begin; i < end; ++i) acc += src[i * inner];
    out[k] = acc;
  }
}

// Max (or min) with the first index; NaN beats everything, the first NaN beats later ones.
template <typename T>
struct ExtremeOp {
  bool want_max;
  __device__ __forceinline__ cuda::Pair<T, long long> operator()(cuda::Pair<T, long long> x,
                                                                 cuda::Pair<T, long long> y) const {
    const bool xn = x.a != x.a, yn = y.a != y.a;  // isnan
    if (xn || yn) return xn && yn ? (x.b < y.b ? x : y) : (xn ? x : y);
    if (x.a == y.a) return x.b < y.b ? x : y;
    return (want_max ? x.a > y.a : x.a < y.a) ? x : y;
  }
};

template <bool Warp, typename T>
__global__ void arg_extreme_kernel(const T* in, T* values, long long* index, int64_t rows, int64_t len,
                                   bool want_max) {
  using Candidate = cuda::Pair<T, long long>;  // value, index
  ONENIP_SHARED(Candidate[32], buf);
  const RowGroup<Warp> g;
  const ExtremeOp<T> op{want_max};
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* row = in + r * len;
    // Lanes past the end start from element 0, which never beats an earlier equal one.
    cuda::Pair<T, long long> best{row[0], 0};
    for (int64_t i = g.lane; i < len; i += g.size) best = op(best, {row[i], i});
    best = group_allreduce<Warp>(best, op, buf);
    if (g.lane == 0) values[r] = best.a, index[r] = best.b;
  }
}

// part[block] = sum of in[i]^2 in double over the block's kSquaresChunk elements.
constexpr int64_t kSquaresChunk = 16384;
template <typename T>
__global__ void squares_kernel(const T* in, double* part, int64_t n) {
  ONENIP_SHARED(double[32], buf);
  const int64_t begin = int64_t(blockIdx.x) * kSquaresChunk, end = simt::min_of(n, begin + kSquaresChunk);
  double acc = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc += double(in[i]) * double(in[i]);
  acc = group_allreduce<false>(acc, cuda::SumOp{}, buf);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

unsigned grid_for(int64_t n, int64_t threads) {
  return unsigned(simt::min_of<int64_t>(simt::ceil_div(n, threads), 65535));
}

// Row sums of in [rows, len] into out [rows]; rows too few to fill the GPU are cut into segments.
template <typename T>
void row_sums(const T* in, T* out, int64_t rows, int64_t len) {
  int64_t nseg = 1;
  if (len > 8192 && rows < 1024) nseg = simt::min_of(simt::ceil_div(len, 4096), simt::ceil_div(2048, rows));
  const int64_t seg_len = simt::ceil_div(len, nseg);
  nseg = simt::ceil_div(len, seg_len);
  cuda::DeviceScratch<T> part(size_t(nseg > 1 ? rows * nseg : 0));
  T* dst = nseg > 1 ? part.p : out;
  const bool warp = cuda::warp_rows(seg_len, 256);
  simt::LaunchConfig cfg;
  cfg.name = "row_sum";
  cfg.problem = "rows " + std::to_string(rows) + ", len " + std::to_string(len) + ", " + std::to_string(nseg) + " segments";
  cfg.grid = dim3(cuda::row_blocks(rows * nseg, warp));
  cfg.block = dim3(kRowThreads);
  if (warp) simt::launch(cfg, row_sum_kernel<true, T>, in, dst, rows, len, seg_len, nseg);
  else simt::launch(cfg, row_sum_kernel<false, T>, in, dst, rows, len, seg_len, nseg);
  if (nseg > 1) row_sums<T>(part.p, out, rows, nseg);
}

// Column sums of in [outer, len, inner] into out [outer, inner]; few columns: segments of len.
template <typename T>
void column_sums(const T* in, T* out, int64_t outer, int64_t len, int64_t inner) {
  const int64_t cols = outer * inner;
  int64_t nseg = 1;
  if (cols < 16384 && len > 1024) nseg = simt::min_of(simt::ceil_div(len, 256), simt::ceil_div(65536, cols));
  const int64_t seg_len = simt::ceil_div(len, nseg);
  nseg = simt::ceil_div(len, seg_len);
  cuda::DeviceScratch<T> part(size_t(nseg > 1 ? cols * nseg : 0));
  simt::LaunchConfig cfg;
  cfg.name = "column_sum";
  cfg.problem = "outer " + std::to_string(outer) + ", len " + std::to_string(len) + ", inner " + std::to_string(inner) +
                ", " + std::to_string(nseg) + " segments";
  cfg.grid = dim3(grid_for(cols * nseg, 256));
  cfg.block = dim3(256);
  simt::launch(cfg, column_sum_kernel<T>, in, nseg > 1 ? part.p : out, outer, len, inner, seg_len, nseg);
  if (nseg > 1) column_sums<T>(part.p, out, outer, nseg, inner);
}

}  // namespace reduce_detail
}  // namespace

template <typename T>
void CudaKernels::sum(const SumProblem<T>& p) {
  if (p.outer * p.inner == 0) return;
  if (p.len == 0) {  // empty sums are 0
    std::vector<T> host(size_t(p.outer * p.inner), T(0));
    cuda::copy(p.out, host.data(), host.size() * sizeof(T), Device::CPU, Device::CUDA);
    return;
  }
  if (p.inner == 1) reduce_detail::row_sums(p.in, p.out, p.outer, p.len);
  else reduce_detail::column_sums(p.in, p.out, p.outer, p.len, p.inner);
}

// values on the device; index is the host memory of an IndexTensor: written through scratch.
template <typename T>
void CudaKernels::arg_extreme(const ArgExtremeProblem<T>& p) {
  if (p.rows == 0) return;
  cuda::DeviceScratch<long long> index(size_t(p.rows));
  const bool warp = cuda::warp_rows(p.len, 256);
  simt::LaunchConfig cfg;
  cfg.name = p.want_max ? "arg_max" : "arg_min";
  cfg.problem = "rows " + std::to_string(p.rows) + ", len " + std::to_string(p.len);
  cfg.grid = dim3(cuda::row_blocks(p.rows, warp));
  cfg.block = dim3(cuda::kRowThreads);
  if (warp) simt::launch(cfg, reduce_detail::arg_extreme_kernel<true, T>, p.in, p.values, index.p, p.rows, p.len, p.want_max);
  else simt::launch(cfg, reduce_detail::arg_extreme_kernel<false, T>, p.in, p.values, index.p, p.rows, p.len, p.want_max);
  static_assert(sizeof(long long) == sizeof(int64_t));
  cuda::copy(p.index, index.p, size_t(p.rows) * sizeof(int64_t), Device::CUDA, Device::CPU);
}

// Per-chunk partials in double, then their row sum in double, then the scalar to the host.
template <typename T>
double CudaKernels::sum_of_squares(const SumOfSquaresProblem<T>& p) {
  if (p.n == 0) return 0.0;
  const int64_t nb = simt::ceil_div(p.n, reduce_detail::kSquaresChunk);
  cuda::DeviceScratch<double> part{size_t(nb)}, total{1};
  simt::LaunchConfig cfg;
  cfg.name = "sum_of_squares";
  cfg.problem = std::to_string(p.n) + " elements";
  cfg.grid = dim3(unsigned(nb));
  cfg.block = dim3(256);
  simt::launch(cfg, reduce_detail::squares_kernel<T>, p.in, part.p, p.n);
  reduce_detail::row_sums<double>(part.p, total.p, 1, nb);
  double s = 0;
  cuda::copy(&s, total.p, sizeof(double), Device::CUDA, Device::CPU);
  return s;
}

#define ONENIP_REDUCE_INSTANTIATE(T)                                          \
  template void CudaKernels::sum<T>(const SumProblem<T>&);                   \
  template void CudaKernels::arg_extreme<T>(const ArgExtremeProblem<T>&);    \
  template double CudaKernels::sum_of_squares<T>(const SumOfSquaresProblem<T>&);
ONENIP_REDUCE_INSTANTIATE(float)
ONENIP_REDUCE_INSTANTIATE(double)
#undef ONENIP_REDUCE_INSTANTIATE

}  // namespace onenip::kernels

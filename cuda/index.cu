// Indexing on CUDA: index_select / index_add over [outer, len, inner] and gather / scatter_add
// along one dim. The index lists are host data: checked on the host, then uploaded per call.
// The adjoints add without atomics, in the CPU's order, so their bits match it:
//   index_add    a thread per src element walks the positions k that picked its row, k
//                increasing (an inverse list built on the host by a counting sort);
//   scatter_add  a thread per column (all the index entries that differ only along `dim`, the
//                only ones that can hit the same element) adds them in order along dim.
#include <cstdint>
#include <string>
#include <vector>

#include "block_reduce.cuh"
#include "grid_stride.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/index.hpp"

namespace onenip::kernels {

namespace {
namespace index_detail {

// n host values on the device, for the length of a call.
struct Uploaded : cuda::DeviceScratch<int64_t> {
  Uploaded(const int64_t* host, int64_t n) : cuda::DeviceScratch<int64_t>(size_t(n)) {
    cuda::copy(p, host, size_t(n) * sizeof(int64_t), Device::CPU, Device::CUDA);
  }
};

template <typename T>
void check_rows(const char* op, const IndexSelectProblem<T>& p) {
  for (int64_t k = 0; k < p.count; ++k)
    ONENIP_CHECK(p.index[k] >= 0 && p.index[k] < p.src_len, op, ": index ", p.index[k], " (position ", k,
                 ") out of range for a dim of size ", p.src_len);
}

std::string rows_sizes(int64_t outer, int64_t len, int64_t inner, int64_t count) {
  return "outer " + std::to_string(outer) + ", len " + std::to_string(len) + ", inner " + std::to_string(inner) +
         ", count " + std::to_string(count);
}

// dst[o, k, i] = src[o, index[k], i]; a thread per dst element.
template <typename T>
__global__ void index_select_kernel(const int64_t* index, const T* src, T* dst, int64_t outer, int64_t len,
                                    int64_t inner, int64_t count) {
  const int64_t n = outer * count * inner;
  for (int64_t e = cuda::flat_first(); e < n; e += cuda::flat_step()) {
    const int64_t i = e % inner, r = e / inner, k = r % count, o = r / count;
    dst[e] = src[(o * len + index[k]) * inner + i];
  }
}

// src[o, j, i] += dst[o, k, i] for the positions k of row j (picks[start[j] .. start[j + 1]),
// k increasing); a thread per src element, rows never picked left alone.
template <typename T>
__global__ void index_add_kernel(const int64_t* start, const int64_t* picks, T* src, const T* dst, int64_t outer,
                                 int64_t len, int64_t inner, int64_t count) {
  const int64_t n = outer * len * inner;
  for (int64_t e = cuda::flat_first(); e < n; e += cuda::flat_step()) {
    const int64_t i = e % inner, r = e / inner, j = r % len, o = r / len;
    if (start[j] == start[j + 1]) continue;
    T acc = src[e];
    for (int64_t q = start[j]; q < start[j + 1]; ++q) acc += dst[(o * count + picks[q]) * inner + i];
    src[e] = acc;
  }
}

// gather's geometry as a kernel argument.
constexpr int kMaxRank = 8;
struct GatherShape {
  int rank = 0, dim = 0;
  int64_t size[kMaxRank] = {}, src_stride[kMaxRank] = {};
};

template <typename T>
GatherShape gather_shape(const char* op, const GatherProblem<T>& p) {
  ONENIP_CHECK(p.index_shape.size() <= size_t(kMaxRank), op, ": rank ", p.index_shape.size(),
               " is above the CUDA kernel's ", kMaxRank);
  GatherShape s;
  s.rank = int(p.index_shape.size());
  s.dim = int(p.dim);
  for (int d = 0; d < s.rank; ++d) s.size[d] = p.index_shape[size_t(d)], s.src_stride[d] = p.src_strides[size_t(d)];
  return s;
}

// Offset in src of index element f, leaving out the term along dim.
__device__ __forceinline__ int64_t offset_off_dim(const GatherShape& s, int64_t f) {
  int64_t off = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    const int64_t c = f % s.size[d];
    f /= s.size[d];
    if (d != s.dim) off += c * s.src_stride[d];
  }
  return off;
}

// out[f] = src[offset of f with index[f] along dim]; a thread per index element.
template <typename T>
__global__ void gather_kernel(GatherShape s, int64_t n, const int64_t* index, const T* src, T* out) {
  for (int64_t f = cuda::flat_first(); f < n; f += cuda::flat_step())
    out[f] = src[offset_off_dim(s, f) + index[f] * s.src_stride[s.dim]];
}

// src[offset of f] += out[f]; a thread per column (outer a, inner b), f along dim in order.
template <typename T>
__global__ void scatter_add_kernel(GatherShape s, int64_t columns, int64_t inner, const int64_t* index, T* src,
                                   const T* out) {
  const int64_t len = s.size[s.dim];
  for (int64_t c = cuda::flat_first(); c < columns; c += cuda::flat_step()) {
    const int64_t a = c / inner, b = c % inner, f0 = a * len * inner + b;
    const int64_t base = offset_off_dim(s, f0);
    for (int64_t k = 0; k < len; ++k) {
      const int64_t f = f0 + k * inner;
      src[base + index[f] * s.src_stride[s.dim]] += out[f];
    }
  }
}

}  // namespace index_detail
}  // namespace

template <typename T>
void CudaKernels::index_select(const IndexSelectProblem<T>& p) {
  using namespace index_detail;
  check_rows("index_select", p);
  const Uploaded index(p.index, p.count);
  const int64_t n = p.outer * p.count * p.inner;
  simt::launch(cuda::flat_launch("index_select", n, rows_sizes(p.outer, p.src_len, p.inner, p.count)),
               index_select_kernel<T>, static_cast<const int64_t*>(index.p), static_cast<const T*>(p.src), p.dst,
               p.outer, p.src_len, p.inner, p.count);
}

template <typename T>
void CudaKernels::index_add(const IndexSelectProblem<T>& p) {
  using namespace index_detail;
  check_rows("index_add", p);
  // [start (src_len + 1) | picks (count)]: the positions that picked each row, by counting sort
  std::vector<int64_t> lists(size_t(p.src_len + 1 + p.count), 0);
  int64_t* start = lists.data();
  for (int64_t k = 0; k < p.count; ++k) ++start[p.index[k] + 1];
  for (int64_t j = 0; j < p.src_len; ++j) start[j + 1] += start[j];
  std::vector<int64_t> next(start, start + p.src_len);
  for (int64_t k = 0; k < p.count; ++k) lists[size_t(p.src_len + 1 + next[size_t(p.index[k])]++)] = k;
  const Uploaded device_lists(lists.data(), int64_t(lists.size()));
  const int64_t n = p.outer * p.src_len * p.inner;
  simt::launch(cuda::flat_launch("index_add", n, rows_sizes(p.outer, p.src_len, p.inner, p.count)),
               index_add_kernel<T>, static_cast<const int64_t*>(device_lists.p),
               static_cast<const int64_t*>(device_lists.p + p.src_len + 1), p.src, static_cast<const T*>(p.dst),
               p.outer, p.src_len, p.inner, p.count);
}

template <typename T>
void CudaKernels::gather(const GatherProblem<T>& p) {
  using namespace index_detail;
  const GatherShape s = gather_shape("gather", p);
  const int64_t n = numel_of(p.index_shape);
  // The upper bound along dim is the op's to check (the problem does not carry src's shape).
  for (int64_t f = 0; f < n; ++f) ONENIP_CHECK(p.index[f] >= 0, "gather: index ", p.index[f], " is negative");
  const Uploaded index(p.index, n);
  simt::launch(cuda::flat_launch("gather", n, "index " + shape_str(p.index_shape) + ", dim " + std::to_string(p.dim)),
               gather_kernel<T>, s, n, static_cast<const int64_t*>(index.p), static_cast<const T*>(p.src), p.out);
}

template <typename T>
void CudaKernels::scatter_add(const GatherProblem<T>& p) {
  using namespace index_detail;
  const GatherShape s = gather_shape("scatter_add", p);
  const int64_t n = numel_of(p.index_shape), len = s.size[s.dim];
  if (n == 0) return;
  for (int64_t f = 0; f < n; ++f) ONENIP_CHECK(p.index[f] >= 0, "scatter_add: index ", p.index[f], " is negative");
  int64_t inner = 1;
  for (int d = s.dim + 1; d < s.rank; ++d) inner *= s.size[d];
  const int64_t columns = n / len;
  const Uploaded index(p.index, n);
  simt::launch(
      cuda::flat_launch("scatter_add", columns, "index " + shape_str(p.index_shape) + ", dim " + std::to_string(p.dim)),
      scatter_add_kernel<T>, s, columns, inner, static_cast<const int64_t*>(index.p), p.src,
      static_cast<const T*>(p.out));
}

#define ONENIP_INDEX_INSTANTIATE(T)                                              \
  template void CudaKernels::index_select<T>(const IndexSelectProblem<T>&);     \
  template void CudaKernels::index_add<T>(const IndexSelectProblem<T>&);        \
  template void CudaKernels::gather<T>(const GatherProblem<T>&);                \
  template void CudaKernels::scatter_add<T>(const GatherProblem<T>&);
ONENIP_INDEX_INSTANTIATE(float)
ONENIP_INDEX_INSTANTIATE(double)
#undef ONENIP_INDEX_INSTANTIATE

}  // namespace onenip::kernels

// Deterministic reductions inside a kernel, shared by reduce.cu, softmax.cu and norm.cu, and
// device scratch memory for the multi-pass kernels.
//
// A group is a warp (Warp = true: one row per warp) or the whole block (one row per block,
// blockDim.x a multiple of 32). Each thread first folds its own elements in index order; the
// group then combines them in a fixed tree: a butterfly of xor shuffles (a op b and b op a give
// the same bits, so every lane ends with the same value), then the warps' results in warp order.
// No step depends on the order in which threads run, so the bits never change between runs.
#pragma once

#include <cstdint>

#include "runtime.cuh"

namespace onenip::cuda {

// n elements of T from the caching allocator, returned on destruction. Kernels are queued on one
// stream, so memory freed after queueing its last user is only reused by later work.
template <typename T>
struct DeviceScratch {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceScratch(size_t count) : n(count) {
    if (n) p = static_cast<T*>(caching_allocator().allocate(n * sizeof(T)));
  }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  ~DeviceScratch() {
    if (p) caching_allocator().deallocate(p, n * sizeof(T));
  }
};

// A value and a second one reduced together (max and sum, value and index, two sums).
template <typename A, typename B>
struct Pair {
  A a;
  B b;
};

__device__ __forceinline__ float shfl_xor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double shfl_xor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ long long shfl_xor(long long v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
template <typename A, typename B>
__device__ __forceinline__ Pair<A, B> shfl_xor(Pair<A, B> v, int m) {
  return {shfl_xor(v.a, m), shfl_xor(v.b, m)};
}

// Every lane of the warp gets op over the 32 lanes' values (op must be commutative bit for bit).
template <typename V, typename Op>
__device__ __forceinline__ V warp_allreduce(V v, Op op) {
  for (int m = 16; m > 0; m /= 2) v = op(v, shfl_xor(v, m));
  return v;
}

// Every thread of the group gets op over the group's values. buf: shared V[32], used only for
// block groups; every thread of the block must call it (it has barriers).
template <bool Warp, typename V, typename Op>
__device__ __forceinline__ V group_allreduce(V v, Op op, V* buf) {
  v = warp_allreduce(v, op);
  if constexpr (Warp) {
    (void)buf;
    return v;
  } else {
    __syncthreads();  // buf may still be read from the previous call
    if (threadIdx.x % 32 == 0) buf[threadIdx.x / 32] = v;
    __syncthreads();
    V r = buf[0];
    for (unsigned w = 1; w < blockDim.x / 32; ++w) r = op(r, buf[w]);
    return r;
  }
}

struct SumOp {
  template <typename V>
  __device__ __forceinline__ V operator()(V x, V y) const { return x + y; }
};
struct Sum2Op {
  template <typename V>
  __device__ __forceinline__ V operator()(V x, V y) const { return {x.a + y.a, x.b + y.b}; }
};

// Where a thread is in a row group, for kernels that give each warp (Warp) or block one row and
// stride over rows.
template <bool Warp>
struct RowGroup {
  int64_t first, step;  // the group's first row and the stride to its next
  unsigned lane, size;  // this thread's place in the group and the group's size

  __device__ __forceinline__ RowGroup() {
    const unsigned per_block = Warp ? blockDim.x / 32 : 1;
    first = int64_t(blockIdx.x) * per_block + (Warp ? threadIdx.x / 32 : 0);
    step = int64_t(gridDim.x) * per_block;
    lane = Warp ? threadIdx.x % 32 : threadIdx.x;
    size = Warp ? 32 : blockDim.x;
  }
};

// Launch shape of a row-group kernel: 256 threads, a warp per row for rows up to `warp_len`.
constexpr unsigned kRowThreads = 256;
inline bool warp_rows(int64_t len, int64_t warp_len = 1024) { return len <= warp_len; }
inline unsigned row_blocks(int64_t rows, bool warp) {
  const int64_t per_block = warp ? kRowThreads / 32 : 1;
  return unsigned(simt::min_of<int64_t>(simt::ceil_div(rows, per_block), 65535));
}

}  // namespace onenip::cuda

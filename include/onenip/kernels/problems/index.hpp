// The problem structs of index kernels: what every backend is given (see kernels/index.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// src [outer, src_len, inner] and dst [outer, count, inner], contiguous; index [count] in
// [0, src_len). index_select: dst[o, k, i] = src[o, index[k], i]. index_add (the adjoint):
// src[o, index[k], i] += dst[o, k, i] for k in order (repeated indices add up).
template <typename T>
struct IndexSelectProblem {
  Device device = Device::CPU;
  int64_t outer = 1, src_len = 0, inner = 1, count = 0;
  const int64_t* index = nullptr;
  T* src = nullptr;
  T* dst = nullptr;
};

// PyTorch's gather along `dim`: out has index's shape; out[f] = src[offset(f)] where offset uses
// the coordinates of f, with index[f] in place of the one along `dim`; src is read through
// src_strides. scatter_add (the adjoint): src[offset(f)] += out[f] for f in order.
template <typename T>
struct GatherProblem {
  Device device = Device::CPU;
  Shape index_shape, src_strides;
  int64_t dim = 0;
  const int64_t* index = nullptr;
  T* src = nullptr;
  T* out = nullptr;
};

}  // namespace onenip::kernels

// The problem structs of reduce kernels: what every backend is given (see kernels/reduce.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// out [outer, inner] = sum over len of in [outer, len, inner]; both contiguous. The sum of each
// output element starts from 0 and adds in index order, so it does not depend on threads.
template <typename T>
struct SumProblem {
  Device device = Device::CPU;
  int64_t outer = 1, len = 1, inner = 1;
  const T* in = nullptr;
  T* out = nullptr;
};

// values [rows] and index [rows] = the max (want_max) or min of each row of in [rows, len] and
// the position of the first such element (NaN wins: the first NaN). len >= 1. index is host
// memory (an IndexTensor's) whatever the device: a device kernel copies its indices back.
template <typename T>
struct ArgExtremeProblem {
  Device device = Device::CPU;
  int64_t rows = 0, len = 1;
  bool want_max = true;
  const T* in = nullptr;
  T* values = nullptr;
  int64_t* index = nullptr;
};

// sum of in[i]^2 over n contiguous elements, accumulated in double in fixed blocks.
template <typename T>
struct SumOfSquaresProblem {
  Device device = Device::CPU;
  int64_t n = 0;
  const T* in = nullptr;
};

}  // namespace onenip::kernels

// softmax and log_softmax along one axis of a tensor laid out as [outer, len, inner]
// (contiguous), and their backward from the output alone.
//
// A row whose entries are all -inf (an attention row with every key masked) gives 0 from softmax
// (with zero gradient) and -inf from log_softmax; PyTorch gives NaN there. The fused attention
// uses the same convention.
#pragma once

#include "dispatch.hpp"

namespace onenip::kernels {

// y = softmax(x) (log: log_softmax) along len; x, y [outer, len, inner].
template <typename T>
struct SoftmaxProblem {
  Device device = Device::CPU;
  int64_t outer = 1, len = 1, inner = 1;
  bool log = false;
  const T* x = nullptr;
  T* y = nullptr;
};

// dx from the forward's output y and the output gradient g: softmax dx = y (g - sum(g y));
// log_softmax dx = g - exp(y) sum(g). All [outer, len, inner].
template <typename T>
struct SoftmaxBackwardProblem {
  Device device = Device::CPU;
  int64_t outer = 1, len = 1, inner = 1;
  bool log = false;
  const T* y = nullptr;
  const T* g = nullptr;
  T* dx = nullptr;
};

}  // namespace onenip::kernels

#include "cpu/softmax.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(softmax, SoftmaxProblem)
ONENIP_KERNEL(softmax_backward, SoftmaxBackwardProblem)

}  // namespace onenip::kernels

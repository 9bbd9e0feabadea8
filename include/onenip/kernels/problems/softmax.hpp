// The problem structs of softmax kernels: what every backend is given (see kernels/softmax.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

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

// The problem structs of optim kernels: what every backend is given (see kernels/optim.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// One Adam / AdamW step over n contiguous elements of parameter p, gradient g and moments m, v,
// with the step's scalars already formed (each rounded to T once, as PyTorch does):
//   decoupled: p *= decay      else if use_l2: g += l2 p
//   m += w1 (g - m);  v = v b2 + w2 g^2;  p += -step_size m / (sqrt(v) / bc2_sqrt + eps)
template <typename T>
struct AdamWProblem {
  Device device = Device::CPU;
  int64_t n = 0;
  T* p = nullptr;
  const T* g = nullptr;
  T* m = nullptr;
  T* v = nullptr;
  T step_size = 0, bc2_sqrt = 1, w1 = 0, b2 = 0, w2 = 0, eps = 0, decay = 1, l2 = 0;
  bool decoupled = true, use_l2 = false;
};

}  // namespace onenip::kernels

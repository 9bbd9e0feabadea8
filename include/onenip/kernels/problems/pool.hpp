// The problem structs of pool kernels: what every backend is given (see kernels/pool.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "conv.hpp"

namespace onenip::kernels {

// Forward: y [N, C, Ho, Wo] = max over each window of x. Backward: gx [N, C, H, W] (overwritten)
// gets each gy at its window's arg-max, recomputed from x (no indices are stored).
template <typename T>
struct MaxPoolProblem {
  Device device = Device::CPU;
  ConvGeom geom;
  const T* x = nullptr;
  T* y = nullptr;
  const T* gy = nullptr;
  T* gx = nullptr;
};

}  // namespace onenip::kernels

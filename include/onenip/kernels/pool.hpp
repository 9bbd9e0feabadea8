// Max pooling over the planes of x [N, C, H, W] and its backward. The window geometry is a
// depthwise "conv" with an all-ones kernel (ConvGeom of kernels/conv.hpp); padding reads as -inf,
// ties go to the first maximum in window order, NaN propagates.
#pragma once

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

#include "cpu/pool.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(max_pool2d, MaxPoolProblem)
ONENIP_KERNEL(max_pool2d_backward, MaxPoolProblem)

}  // namespace onenip::kernels

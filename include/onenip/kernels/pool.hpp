// Max pooling over the planes of x [N, C, H, W] and its backward. The window geometry is a
// depthwise "conv" with an all-ones kernel (ConvGeom of kernels/conv.hpp); padding reads as -inf,
// ties go to the first maximum in window order, NaN propagates.
#pragma once

#include "problems/pool.hpp"
#include "dispatch.hpp"

#include "cpu/pool.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(max_pool2d, MaxPoolProblem)
ONENIP_KERNEL(max_pool2d_backward, MaxPoolProblem)

}  // namespace onenip::kernels

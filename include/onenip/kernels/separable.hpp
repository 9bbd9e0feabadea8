// Separable linear maps of image planes: y = A_h · x · A_wᵀ for every [H, W] plane, with A_h
// [Ho, H] and A_w [Wo, W] sparse (average pooling, resizing, Gaussian blur), and the adjoint.
#pragma once

#include "problems/separable.hpp"
#include "dispatch.hpp"

#include "cpu/separable.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(separable, SeparableProblem)

}  // namespace onenip::kernels

// Normalisation kernels: layer norm and RMS norm over the last dim, and batch norm per channel,
// forward and backward. Parameter gradients are sums over rows taken in fixed blocks and added in a fixed
// order, so they do not depend on the thread count.
#pragma once

#include "problems/norm.hpp"
#include "dispatch.hpp"

#include "cpu/norm.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(layer_norm, LayerNormProblem)
ONENIP_KERNEL(layer_norm_backward, LayerNormBackwardProblem)
ONENIP_KERNEL(rms_norm, RMSNormProblem)
ONENIP_KERNEL(rms_norm_backward, RMSNormBackwardProblem)
ONENIP_KERNEL(batch_norm, BatchNormProblem)
ONENIP_KERNEL(batch_norm_backward, BatchNormBackwardProblem)

}  // namespace onenip::kernels

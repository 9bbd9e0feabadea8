// Inference-only fused convolutions of the folded backbones (batch norm folded into the conv),
// one image at a time, each with its epilogue run on cache-hot blocks: bias, activation,
// residual, the channel means squeeze-excitation needs; and the squeeze-excitation gate itself.
// No autograd: the backbones are frozen.
#pragma once

#include "problems/fused_conv.hpp"
#include "dispatch.hpp"

#include "cpu/fused_conv.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(activation_inplace, ActivationProblem)
ONENIP_KERNEL(pointwise_conv_fused, PointwiseConvProblem)
ONENIP_KERNEL(depthwise_conv_fused, DepthwiseConvProblem)
ONENIP_KERNEL(squeeze_excite_gate, SqueezeExciteProblem)
ONENIP_KERNEL(scale_columns, ScaleColumnsProblem)

}  // namespace onenip::kernels

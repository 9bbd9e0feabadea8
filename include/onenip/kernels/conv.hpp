// Convolution: the geometry every conv-like op shares (conv2d, conv_transpose2d, pooling), and
// conv2d's three passes on contiguous NCHW buffers.
#pragma once

#include "problems/conv.hpp"
#include "dispatch.hpp"

#include "cpu/conv.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(conv2d, ConvProblem)
ONENIP_KERNEL(conv2d_grad_input, ConvProblem)
ONENIP_KERNEL(conv2d_grad_weight, ConvProblem)
ONENIP_KERNEL(channel_sum, ChannelSumProblem)

}  // namespace onenip::kernels

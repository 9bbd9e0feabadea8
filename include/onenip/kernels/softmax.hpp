// softmax and log_softmax along one axis of a tensor laid out as [outer, len, inner]
// (contiguous), and their backward from the output alone.
//
// A row whose entries are all -inf (an attention row with every key masked) gives 0 from softmax
// (with zero gradient) and -inf from log_softmax; PyTorch gives NaN there. The fused attention
// uses the same convention.
#pragma once

#include "problems/softmax.hpp"
#include "dispatch.hpp"

#include "cpu/softmax.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(softmax, SoftmaxProblem)
ONENIP_KERNEL(softmax_backward, SoftmaxBackwardProblem)

}  // namespace onenip::kernels

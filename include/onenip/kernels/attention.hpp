// Fused scaled dot-product attention, flash style: softmax(scale Q Kᵀ + mask) V with dropout on
// the attention weights, forward and backward, never materialising the Tq x Tk matrix. Rows with
// every key masked give 0 and zero gradient.
#pragma once

#include "problems/attention.hpp"
#include "dispatch.hpp"

#include "cpu/attention.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(attention, AttentionProblem)
ONENIP_KERNEL(attention_backward, AttentionProblem)

}  // namespace onenip::kernels

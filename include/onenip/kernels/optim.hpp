// Optimiser updates as one fused pass over a parameter and its state.
#pragma once

#include "problems/optim.hpp"
#include "dispatch.hpp"

#include "cpu/optim.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(adamw_step, AdamWProblem)

}  // namespace onenip::kernels

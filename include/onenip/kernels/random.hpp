// Random numbers on a device: uniform and normal fills, and dropout masks, all from the
// counter-based Philox stream of random.hpp. Element i of a fill depends only on (seed, first
// counter, i), so every backend and every thread count draws the same numbers.
#pragma once

#include "problems/random.hpp"
#include "dispatch.hpp"

#include "cpu/random.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(random_fill, RandomFillProblem)
ONENIP_KERNEL(dropout, DropoutProblem)

}  // namespace onenip::kernels

// GEMM: the one matrix-product kernel behind matmul, linear and (on the CPU) the convolutions.
#pragma once

#include "problems/gemm.hpp"
#include "dispatch.hpp"

#include "cpu/gemm.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(gemm, GemmProblem)

}  // namespace onenip::kernels

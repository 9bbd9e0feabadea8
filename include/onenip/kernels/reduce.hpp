// Reductions along one axis of a tensor laid out as [outer, len, inner] (contiguous): sums,
// max / min with the index of the winner, and a sum of squares in double (gradient clipping).
#pragma once

#include "problems/reduce.hpp"
#include "dispatch.hpp"

#include "cpu/reduce.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(sum, SumProblem)
ONENIP_KERNEL(arg_extreme, ArgExtremeProblem)

template <KernelScalar T>
double sum_of_squares(const SumOfSquaresProblem<T>& p) {
  ONENIP_DISPATCH(p.device, sum_of_squares, p);
}

}  // namespace onenip::kernels

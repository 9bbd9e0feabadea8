// Pointwise kernels: out = f(in_1, ..., in_k) over a shape, every operand with its own element
// strides (0 where it is broadcast), and dtype conversion.
#pragma once

#include "problems/elementwise.hpp"
#include "dispatch.hpp"

#include "cpu/elementwise.hpp"

namespace onenip::kernels {

// data[0][i] = f(data[1][i], ..., data[N-1][i]) for every index i of the shape.
template <KernelScalar T, size_t N, typename F>
void pointwise(const PointwiseProblem<T, N>& p, const F& f) {
  ONENIP_DISPATCH(p.device, pointwise, p, f);
}

template <KernelScalar U, KernelScalar T>
void convert(const ConvertProblem<U, T>& p) {
  ONENIP_DISPATCH(p.device, convert, p);
}

}  // namespace onenip::kernels

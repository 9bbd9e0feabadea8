// Pointwise kernels: out = f(in_1, ..., in_k) over a shape, every operand with its own element
// strides (0 where it is broadcast), and dtype conversion.
#pragma once

#include <array>

#include "dispatch.hpp"
#include "functors.hpp"

namespace onenip::kernels {

// N operands over one logical shape: operand 0 is written, operands 1..N-1 are read (operand 0
// may also be read: in-place updates pass the same pointer and strides twice). Reads and writes
// of one index touch only that index, so the kernel may visit indices in any order.
template <typename T, size_t N>
struct PointwiseProblem {
  Device device = Device::CPU;
  Shape shape;
  std::array<Shape, N> strides;  // per operand, in elements, one per dim of `shape`
  std::array<T*, N> data{};      // element [0, ..., 0] of each operand
};

// dst [n] (contiguous) = U(src [n]) (contiguous): another scalar type.
template <typename U, typename T>
struct ConvertProblem {
  Device device = Device::CPU;
  int64_t n = 0;
  const T* src = nullptr;
  U* dst = nullptr;
};

}  // namespace onenip::kernels

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

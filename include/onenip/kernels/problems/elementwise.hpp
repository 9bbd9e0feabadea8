// The problem structs of elementwise kernels: what every backend is given (see kernels/elementwise.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include <array>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "../functors.hpp"

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

// Merge adjacent dims that are contiguous with each other in every operand, and drop size-1
// dims, so the inner loop runs as long as possible. In place (the vectors only shrink), since
// every elementwise op runs this.
template <size_t N>
void coalesce_dims(Shape& shape, std::array<Shape, N>& strides) {
  size_t out = 0;  // dims kept so far, in [0, out)
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (out > 0) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k) merge &= strides[k][out - 1] == strides[k][i] * shape[i];
      if (merge) {
        shape[out - 1] *= shape[i];
        for (size_t k = 0; k < N; ++k) strides[k][out - 1] = strides[k][i];
        continue;
      }
    }
    shape[out] = shape[i];
    for (size_t k = 0; k < N; ++k) strides[k][out] = strides[k][i];
    ++out;
  }
  if (out == 0) {  // a single element (or rank 0)
    shape.assign(1, 1);
    for (size_t k = 0; k < N; ++k) strides[k].assign(1, 0);
    return;
  }
  shape.resize(out);
  for (size_t k = 0; k < N; ++k) strides[k].resize(out);
}

}  // namespace onenip::kernels

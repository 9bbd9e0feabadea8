// The problem structs of separable kernels: what every backend is given (see kernels/separable.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include <vector>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// A sparse [out, in] matrix, row by row (CSR): row o holds entries [start[o], start[o+1]).
template <typename T>
struct AxisMap {
  int64_t in = 0, out = 0;
  std::vector<int64_t> start{0};
  std::vector<int64_t> idx;
  std::vector<T> w;

  void add(int64_t i, T v) {
    idx.push_back(i);
    w.push_back(v);
  }
  void end_row() {
    start.push_back(int64_t(idx.size()));
    ++out;
  }
};

// planes [N*C] of x, [in_h, in_w] each, mapped to y [N*C, out_h, out_w] (both contiguous):
// y = A_h x A_wᵀ, or with `adjoint` y = A_hᵀ x A_w (then x is [Ho, Wo] per plane and y [H, W]).
// The maps are small host-side descriptions; a device backend copies them to the device.
template <typename T>
struct SeparableProblem {
  Device device = Device::CPU;
  int64_t planes = 0;
  const AxisMap<T>* ah = nullptr;
  const AxisMap<T>* aw = nullptr;
  bool adjoint = false;
  const T* x = nullptr;
  T* y = nullptr;
};

}  // namespace onenip::kernels

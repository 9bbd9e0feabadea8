// The problem structs of conv kernels: what every backend is given (see kernels/conv.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// Division rounding down / up, for signed numerators and positive denominators.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// Output columns [lo, hi) whose input column ow * step + off lies in [0, W).
struct ColRange {
  int64_t lo, hi, off;
};

// Shapes and hyper-parameters of one conv2d: x [N, C, H, W], weight [O, C/groups, kh, kw],
// out [N, O, Ho, Wo]. Padding is zero padding, per side.
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;
  int64_t O = 0, kh = 1, kw = 1;
  int64_t sh = 1, sw = 1, pt = 0, pb = 0, pl = 0, pr = 0, dh = 1, dw = 1, groups = 1;
  int64_t Ho = 0, Wo = 0;

  int64_t Cg() const { return C / groups; }
  int64_t Og() const { return O / groups; }
  int64_t K() const { return Cg() * kh * kw; }  // rows of a column matrix
  int64_t P() const { return Ho * Wo; }         // output pixels per plane
  bool depthwise() const { return groups == C && groups == O; }
  // 1x1, unit stride, no padding: the column matrix is x itself.
  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0 && Ho == H && Wo == W;
  }
  // Fills Ho, Wo; callers have checked that the kernel fits the padded input.
  void finish() {
    Ho = (H + pt + pb - dh * (kh - 1) - 1) / sh + 1;
    Wo = (W + pl + pr - dw * (kw - 1) - 1) / sw + 1;
  }
  // Valid output columns for kernel column kj (the rest read padding).
  ColRange col_range(int64_t kj) const {
    int64_t off = kj * dw - pl;
    int64_t lo = std::clamp<int64_t>(ceil_div(-off, sw), 0, Wo);
    int64_t hi = std::clamp<int64_t>(floor_div(W - 1 - off, sw) + 1, lo, Wo);
    return {lo, hi, off};
  }
  std::vector<ColRange> col_ranges() const {
    std::vector<ColRange> r(static_cast<size_t>(kw));
    for (int64_t kj = 0; kj < kw; ++kj) r[size_t(kj)] = col_range(kj);
    return r;
  }
};

// The tensors of one conv2d: x [N, C, H, W], w [O, C/groups, kh, kw], y [N, O, Ho, Wo], all
// contiguous, and bias [O] (or null). Each pass reads two of x, w, y and overwrites the third:
//   conv2d               y = x ⋆ w (+ bias)
//   conv2d_grad_input    x = the input gradient for output gradient y (+ bias[c] on every
//                        plane of channel c: conv_transpose2d's forward is this pass, bias [C])
//   conv2d_grad_weight   w = the weight gradient for input x and output gradient y
// conv_transpose2d is conv2d's adjoint, so it runs on the same three passes.
template <typename T>
struct ConvProblem {
  Device device = Device::CPU;
  ConvGeom geom;
  T* x = nullptr;
  T* w = nullptr;
  T* y = nullptr;
  const T* bias = nullptr;
};

// out [C] = sum over n and the P pixels of g [N, C, P] (a conv's bias gradient).
template <typename T>
struct ChannelSumProblem {
  Device device = Device::CPU;
  int64_t N = 0, C = 0, P = 0;
  const T* g = nullptr;
  T* out = nullptr;
};

}  // namespace onenip::kernels

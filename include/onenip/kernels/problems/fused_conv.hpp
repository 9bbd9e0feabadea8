// The problem structs of fused conv kernels: what every backend is given (see kernels/fused_conv.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "conv.hpp"

namespace onenip::kernels {

enum class Activation { None, ReLU6, Swish };

// y [n] = act(y) in place (contiguous).
template <typename T>
struct ActivationProblem {
  Device device = Device::CPU;
  Activation act = Activation::None;
  T* y = nullptr;
  int64_t n = 0;
};

// One image: y [O, P] = act(w [O, C] @ x [C, P] + bias [O]), then + residual [O, P] (or null).
template <typename T>
struct PointwiseConvProblem {
  Device device = Device::CPU;
  int64_t C = 0, O = 0, P = 0;
  Activation act = Activation::None;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* bias = nullptr;
  const T* residual = nullptr;
  T* y = nullptr;
};

// One image (geom.N == 1, depthwise): y [C, Ho, Wo] = act(depthwise conv of x [C, H, W] with w
// [C, 1, kh, kw] + bias [C]); means [C] (or null) = the mean of each output plane.
template <typename T>
struct DepthwiseConvProblem {
  Device device = Device::CPU;
  ConvGeom geom;
  Activation act = Activation::None;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* bias = nullptr;
  T* y = nullptr;
  T* means = nullptr;
};

// Squeeze-excitation gate [C] = sigmoid(w2 [C, S] swish(w1 [S, C] means [C] + b1 [S]) + b2 [C]).
template <typename T>
struct SqueezeExciteProblem {
  Device device = Device::CPU;
  int64_t C = 0, S = 0;
  const T* means = nullptr;
  const T* w1 = nullptr;
  const T* b1 = nullptr;
  const T* w2 = nullptr;
  const T* b2 = nullptr;
  T* gate = nullptr;
};

// out [rows, cols] = w [rows, cols] diag(scale [cols]): a gate folded into a weight's columns.
template <typename T>
struct ScaleColumnsProblem {
  Device device = Device::CPU;
  int64_t rows = 0, cols = 0;
  const T* w = nullptr;
  const T* scale = nullptr;
  T* out = nullptr;
};

}  // namespace onenip::kernels

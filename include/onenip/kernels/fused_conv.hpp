// Inference-only fused convolutions of the folded backbones (batch norm folded into the conv),
// one image at a time, each with its epilogue run on cache-hot blocks: bias, activation,
// residual, the channel means squeeze-excitation needs; and the squeeze-excitation gate itself.
// No autograd: the backbones are frozen.
#pragma once

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

#include "cpu/fused_conv.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(activation_inplace, ActivationProblem)
ONENIP_KERNEL(pointwise_conv_fused, PointwiseConvProblem)
ONENIP_KERNEL(depthwise_conv_fused, DepthwiseConvProblem)
ONENIP_KERNEL(squeeze_excite_gate, SqueezeExciteProblem)
ONENIP_KERNEL(scale_columns, ScaleColumnsProblem)

}  // namespace onenip::kernels

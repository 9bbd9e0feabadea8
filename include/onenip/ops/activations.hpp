/// \file
/// Pointwise activations, each a named functor of kernels/functors.hpp (value and derivative).
/// Each saves only what its derivative needs (unary_op keeps x and y). Conventions follow PyTorch,
/// including the derivative at kinks (relu'(0) = 0, leaky_relu'(0) = slope, relu6' = 0 at 0 and 6).
#pragma once

#include "elementwise.hpp"

namespace onenip {

template <typename T> Tensor<T> relu(const Tensor<T>& a) { return unary_op(a, "ReLU", fn::ReLU{}); }
template <typename T> Tensor<T> sigmoid(const Tensor<T>& a) { return unary_op(a, "Sigmoid", fn::Sigmoid{}); }
template <typename T> Tensor<T> tanh(const Tensor<T>& a) { return unary_op(a, "Tanh", fn::Tanh{}); }

/// min(max(x, 0), 6) (MobileNetV2).
template <typename T> Tensor<T> relu6(const Tensor<T>& a) { return unary_op(a, "ReLU6", fn::ReLU6{}); }

/// x for x > 0, slope * x otherwise.
template <typename T> Tensor<T> leaky_relu(const Tensor<T>& a, T slope = T(0.01)) {
  return unary_op(a, "LeakyReLU", fn::LeakyReLU<T>{slope});
}

/// x * sigmoid(x) (swish; EfficientNet).
template <typename T> Tensor<T> silu(const Tensor<T>& a) { return unary_op(a, "SiLU", fn::SiLU{}); }

/// Exact GELU: x * Phi(x), Phi the standard normal CDF.
template <typename T> Tensor<T> gelu(const Tensor<T>& a) { return unary_op(a, "GELU", fn::GELU{}); }

/// GELU's tanh approximation (PyTorch approximate="tanh").
template <typename T> Tensor<T> gelu_tanh(const Tensor<T>& a) { return unary_op(a, "GELUTanh", fn::GELUTanh{}); }

/// log(1 + exp(beta x)) / beta, linear above `threshold` (as PyTorch, for stability).
template <typename T> Tensor<T> softplus(const Tensor<T>& a, T beta = T(1), T threshold = T(20)) {
  ONENIP_CHECK(beta > T(0), "softplus: beta must be positive, got ", beta);
  return unary_op(a, "Softplus", fn::Softplus<T>{beta, threshold});
}

}  // namespace onenip

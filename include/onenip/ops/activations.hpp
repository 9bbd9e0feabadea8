// Pointwise activations. Each saves only what its derivative needs.
#pragma once

#include "elementwise.hpp"

namespace onenip {

template <typename T> Tensor<T> relu(const Tensor<T>& a) {
  return unary_op(a, "ReLU", [](T x) { return x > T(0) ? x : T(0); }, [](T x, T) { return x > T(0) ? T(1) : T(0); });
}
template <typename T> Tensor<T> sigmoid(const Tensor<T>& a) {
  return unary_op(a, "Sigmoid", [](T x) { return T(1) / (T(1) + std::exp(-x)); },
                  [](T, T y) { return y * (T(1) - y); });
}
template <typename T> Tensor<T> tanh(const Tensor<T>& a) {
  return unary_op(a, "Tanh", [](T x) { return std::tanh(x); }, [](T, T y) { return T(1) - y * y; });
}

}  // namespace onenip

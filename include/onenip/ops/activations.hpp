// Pointwise activations. Each saves only what its derivative needs (unary_op keeps x and y).
// Conventions follow PyTorch, including the derivative at kinks (relu'(0) = 0,
// leaky_relu'(0) = slope, relu6' = 0 at 0 and 6).
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

// min(max(x, 0), 6) (MobileNetV2).
template <typename T> Tensor<T> relu6(const Tensor<T>& a) {
  return unary_op(a, "ReLU6", [](T x) { return std::min(std::max(x, T(0)), T(6)); },
                  [](T x, T) { return (x > T(0) && x < T(6)) ? T(1) : T(0); });
}

// x for x > 0, slope * x otherwise.
template <typename T> Tensor<T> leaky_relu(const Tensor<T>& a, T slope = T(0.01)) {
  return unary_op(a, "LeakyReLU", [slope](T x) { return x > T(0) ? x : slope * x; },
                  [slope](T x, T) { return x > T(0) ? T(1) : slope; });
}

// x * sigmoid(x) (swish; EfficientNet).
template <typename T> Tensor<T> silu(const Tensor<T>& a) {
  return unary_op(a, "SiLU", [](T x) { return x / (T(1) + std::exp(-x)); },
                  [](T x, T) {
                    T s = T(1) / (T(1) + std::exp(-x));
                    return s * (T(1) + x * (T(1) - s));
                  });
}

// Exact GELU: x * Phi(x), Phi the standard normal CDF.
template <typename T> Tensor<T> gelu(const Tensor<T>& a) {
  return unary_op(a, "GELU", [](T x) { return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2))); },
                  [](T x, T) {
                    T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
                    T pdf = std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);  // 1/sqrt(2 pi)
                    return cdf + x * pdf;
                  });
}

// GELU's tanh approximation (PyTorch approximate="tanh").
template <typename T> Tensor<T> gelu_tanh(const Tensor<T>& a) {
  constexpr T k = T(0.7978845608028654);  // sqrt(2 / pi)
  constexpr T c = T(0.044715);
  return unary_op(a, "GELUTanh", [](T x) { return T(0.5) * x * (T(1) + std::tanh(k * (x + c * x * x * x))); },
                  [](T x, T) {
                    T t = std::tanh(k * (x + c * x * x * x));
                    return T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * k * (T(1) + T(3) * c * x * x);
                  });
}

// log(1 + exp(beta x)) / beta, linear above `threshold` (as PyTorch, for stability).
template <typename T> Tensor<T> softplus(const Tensor<T>& a, T beta = T(1), T threshold = T(20)) {
  ONENIP_CHECK(beta > T(0), "softplus: beta must be positive, got ", beta);
  return unary_op(a, "Softplus",
                  [beta, threshold](T x) { return x * beta > threshold ? x : std::log1p(std::exp(x * beta)) / beta; },
                  [beta, threshold](T x, T) {
                    return x * beta > threshold ? T(1) : T(1) / (T(1) + std::exp(-x * beta));
                  });
}

}  // namespace onenip

/// \file
/// Parameter initialisers (torch.nn.init), drawing from an explicit Generator so a seed fixes them.
#pragma once

#include <cmath>

#include "../ops/creation.hpp"

namespace onenip::nn::init {

/// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's convention;
/// for ConvTranspose weights [in, out, kh, kw] this is what PyTorch computes too).
inline std::pair<double, double> fans(const Shape& s) {
  ONENIP_CHECK(s.size() >= 2, "init: fan in/out need a tensor of rank >= 2, got ", shape_str(s));
  double field = 1;
  for (size_t i = 2; i < s.size(); ++i) field *= double(s[i]);
  return {double(s[1]) * field, double(s[0]) * field};
}

template <typename T>
void uniform_(Tensor<T>& t, double lo, double hi, Generator& gen) {
  NoGradGuard ng;
  t.copy_(rand<T>(t.shape(), T(lo), T(hi), gen));
}
template <typename T> void zeros_(Tensor<T>& t) { NoGradGuard ng; t.fill_(T(0)); }
template <typename T> void ones_(Tensor<T>& t) { NoGradGuard ng; t.fill_(T(1)); }

/// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
template <typename T>
void xavier_uniform_(Tensor<T>& t, Generator& gen, double gain = 1.0) {
  auto [in, out] = fans(t.shape());
  double a = gain * std::sqrt(6.0 / (in + out));
  uniform_(t, -a, a, gen);
}

/// U(-b, b), b = gain * sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) (leaky-ReLU slope a).
/// a = sqrt(5) is PyTorch's default for Linear and Conv weights: b = 1 / sqrt(fan_in).
template <typename T>
void kaiming_uniform_(Tensor<T>& t, Generator& gen, double a = 0.0) {
  double fan_in = fans(t.shape()).first, gain = std::sqrt(2.0 / (1 + a * a));
  double b = gain * std::sqrt(3.0 / fan_in);
  uniform_(t, -b, b, gen);
}

/// PyTorch's default for Linear / Conv: weight kaiming_uniform(a = sqrt 5), bias U(+-1/sqrt(fan_in)).
template <typename T>
void default_linear_init_(Tensor<T>& weight, Tensor<T>* bias, Generator& gen) {
  kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (bias && bias->defined()) {
    double b = 1.0 / std::sqrt(fans(weight.shape()).first);
    uniform_(*bias, -b, b, gen);
  }
}

}  // namespace onenip::nn::init

/// \file
/// Deterministic "pattern" weights: every element a function of (tensor name, element index),
/// bit-identical to tests/fixtures/pattern.py. They stand in for pretrained weights that are too
/// big to commit or not on the machine: the fixtures store only a network's outputs on pattern
/// weights and pattern inputs, and the tests and benchmarks rebuild both from the formula.
///
///   k = splitmix64(fnv1a64(name) + index * 0x9E3779B97F4A7C15) >> 40    (24 bits)
///   s = (2k - 2^24) / 2^24, exact, in [-1, 1)
///   value = scale * s + centre, in double (one rounding at most), then rounded to T, with
///     BN variance and 1-D weights (BN scale):  centre 1, scale 0.5
///     running means and biases:                centre 0, scale 1/8
///     conv / linear weights:                   centre 0, scale sqrt(3 / fan_in)  (variance 1/fan_in)
///     names starting with "input":             centre 0, scale 2
#pragma once

#include <cmath>
#include <string_view>

#include "state_dict.hpp"

namespace onenip::models {

inline uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

/// s in [-1, 1) for element `index` of the tensor whose name hashes to `seed`.
inline double pattern_signed_unit(uint64_t seed, uint64_t index) {
  uint64_t x = seed + index * 0x9E3779B97F4A7C15ull;
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  const double k = double(x >> 40);
  return (2.0 * k - 16777216.0) / 16777216.0;
}

/// (centre, scale) of a tensor by its name and shape.
inline std::pair<double, double> pattern_kind(const std::string& name, const Shape& shape) {
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".running_var") || (ends(".weight") && shape.size() == 1)) return {1.0, 0.5};
  if (ends(".running_mean") || ends(".bias")) return {0.0, 0.125};
  if (ends(".weight")) {
    ONENIP_CHECK(!shape.empty() && shape[0] > 0, "pattern weights: tensor '", name, "' has shape ", shape_str(shape));
    return {0.0, std::sqrt(3.0 / double(numel_of(shape) / shape[0]))};
  }
  if (name.rfind("input", 0) == 0) return {0.0, 2.0};
  ::onenip::detail::fail("pattern weights: no value range for tensor '", name,
                         "' (names end in .weight, .bias, .running_mean, .running_var, or start with input)");
}

template <typename T>
Tensor<T> pattern_tensor(const std::string& name, const Shape& shape) {
  const auto [centre, scale] = pattern_kind(name, shape);
  const uint64_t seed = fnv1a64(name);
  Tensor<T> t = Tensor<T>::empty(shape);
  T* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double s = pattern_signed_unit(seed, uint64_t(i));
    // float first, as the Python side stores float32, then to T.
    p[i] = T(float(centre == 0.0 ? scale * s : scale * s + centre));
  }
  return t;
}

/// Pattern values for every tensor of `spec` (only the required ones when `required_only`).
template <typename T>
StateDict<T> pattern_state_dict(const std::vector<TensorSpec>& spec, bool required_only = false) {
  StateDict<T> sd;
  for (const auto& s : spec)
    if (s.required || !required_only) sd.emplace(s.name, pattern_tensor<T>(s.name, s.shape));
  return sd;
}

}  // namespace onenip::models

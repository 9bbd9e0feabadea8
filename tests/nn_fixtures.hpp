// The PyTorch fixture of the activation / norm / attention tests
// (tests/fixtures/attn_fixtures.safetensors, written by export_attn_fixtures.py).
#pragma once

#include "helpers.hpp"

namespace testing {

template <typename T>
onenip::Tensor<T> fx(const std::string& name) {
  return fixture("attn_fixtures.safetensors").get<T>(name);
}

// Tolerances against float32-stored float64 references: float computes in float, double is
// limited by the storage rounding.
template <typename T> constexpr double fx_tol() { return std::is_same_v<T, float> ? 2e-5 : 2e-6; }

}  // namespace testing

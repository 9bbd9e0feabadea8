// Helpers shared by the activation / norm / attention tests: the PyTorch fixture file and a
// comparison that treats matching infinities as equal and any NaN as a failure.
#pragma once

#include "helpers.hpp"

#include <cmath>
#include <string>

namespace testing {

// tests/fixtures/attn_fixtures.safetensors (written by export_attn_fixtures.py).
inline const onenip::io::SafeTensorsFile& nn_fixtures() {
  static onenip::io::SafeTensorsFile f(std::string(ONENIP_SOURCE_DIR) + "/tests/fixtures/attn_fixtures.safetensors");
  return f;
}
template <typename T>
onenip::Tensor<T> fx(const std::string& name) {
  return nn_fixtures().get<T>(name);
}

// Same shape; every element within atol + rtol |expected|, or the same infinity.
template <typename T>
void expect_close(const onenip::Tensor<T>& got, const onenip::Tensor<T>& expected, double atol, double rtol) {
  REQUIRE(got.shape() == expected.shape());
  auto a = got.contiguous(), b = expected.contiguous();
  int64_t bad = -1;
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double x = double(a.data()[i]), y = double(b.data()[i]);
    bool ok = std::isinf(y) ? x == y : std::abs(x - y) <= atol + rtol * std::abs(y);  // NaN never ok
    if (!ok && bad < 0) bad = i;
    if (std::isfinite(x) && std::isfinite(y)) worst = std::max(worst, std::abs(x - y));
  }
  INFO("first mismatch at element ", bad, (bad >= 0 ? ": got " + std::to_string(double(a.data()[bad])) +
                                                           ", expected " + std::to_string(double(b.data()[bad]))
                                                     : std::string()),
       "; worst finite abs error ", worst);
  CHECK(bad < 0);
}

// Tolerances against float32-stored float64 references: float computes in float, double is
// limited by the storage rounding.
template <typename T> constexpr double fx_tol() { return std::is_same_v<T, float> ? 2e-5 : 2e-6; }

}  // namespace testing

// Shared test helpers: value comparison and the gradient-check assertion.
#pragma once

#include <doctest/doctest.h>
#include <onenip/onenip.hpp>

#include <filesystem>
#include <string>
#include <vector>

namespace testing {

// Every element of `t` (any strides) within atol + rtol*|expected| of `expected` (row-major).
template <typename T>
void check_values(const onenip::Tensor<T>& t, const std::vector<double>& expected, double atol = 1e-6,
                  double rtol = 1e-6) {
  REQUIRE(t.numel() == int64_t(expected.size()));
  auto c = t.contiguous();
  for (size_t i = 0; i < expected.size(); ++i) {
    double got = double(c.data()[i]);
    INFO("element ", i, ": got ", got, ", expected ", expected[i]);
    CHECK(std::abs(got - expected[i]) <= atol + rtol * std::abs(expected[i]));
  }
}

template <typename T>
void check_close(const onenip::Tensor<T>& a, const onenip::Tensor<T>& b, double atol = 1e-6, double rtol = 1e-6) {
  REQUIRE(a.shape() == b.shape());
  auto ac = a.contiguous(), bc = b.contiguous();
  double worst = 0;
  int64_t where = -1;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double err = std::abs(double(ac.data()[i]) - double(bc.data()[i])) - rtol * std::abs(double(bc.data()[i]));
    if (err > worst) worst = err, where = i;
  }
  INFO("worst excess error ", worst, " at element ", where);
  CHECK(worst <= atol);
}

inline void check_gradients(const onenip::GradFn& f, const std::vector<onenip::TensorD>& inputs,
                            onenip::GradCheckOptions opt = {}) {
  auto r = onenip::gradcheck(f, inputs, opt);
  INFO(r.message, " max abs error ", r.max_abs_error);
  CHECK(r.ok);
}

// ../shared beside the project, or empty when absent (tests then skip with a message).
inline std::string shared_dir() {
  std::filesystem::path p(ONENIP_SHARED_DIR);
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace testing

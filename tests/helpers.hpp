// Shared test helpers: the one comparison of tensors, the one fixture loader, and the
// gradient-check assertion. Every test compares through compare() so that infinities, NaN and
// tolerances mean the same thing everywhere.
#pragma once

#include <doctest/doctest.h>
#include <onenip/onenip.hpp>

#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace testing {

// Element i passes when |got - want| <= atol + rtol |want| + peak * max_j |want_j|, or when
// both are the same infinity. NaN never passes. `peak` is for values that pass through zero,
// where an elementwise relative test alone would be meaningless.
struct Tol {
  double atol = 1e-6, rtol = 1e-6, peak = 0;
};

struct Comparison {
  bool same_shape = true;
  int64_t mismatches = 0, first = -1;  // first failing element (row-major)
  double first_got = 0, first_want = 0;
  double worst = 0;  // largest finite |got - want|
  double bound = 0;  // atol with the peak term added
  bool ok() const { return same_shape && mismatches == 0; }
  std::string str() const {
    std::ostringstream s;
    if (!same_shape) return "shapes differ";
    s << mismatches << " mismatches";
    if (first >= 0) s << ", first at element " << first << ": got " << first_got << ", expected " << first_want;
    s << "; worst finite abs error " << worst << " (atol incl. peak term " << bound << ")";
    return s.str();
  }
};

// Element-by-element comparison of any two tensors (any strides, any device, float or double).
template <typename A, typename B>
Comparison compare(const onenip::Tensor<A>& got, const onenip::Tensor<B>& want, Tol tol) {
  Comparison r;
  if (got.shape() != want.shape()) {
    r.same_shape = false;
    return r;
  }
  auto g = got.detach().cpu().contiguous();  // two declarations: A and B may differ (clang refuses one `auto` for both)
  auto w = want.detach().cpu().contiguous();
  double peak = 0;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (std::isfinite(double(w.data()[i]))) peak = std::max(peak, std::abs(double(w.data()[i])));
  r.bound = tol.atol + tol.peak * peak;
  for (int64_t i = 0; i < g.numel(); ++i) {
    double x = double(g.data()[i]), y = double(w.data()[i]);
    bool ok = std::isinf(y) ? x == y : std::abs(x - y) <= r.bound + tol.rtol * std::abs(y);  // NaN: false
    if (std::isfinite(x) && std::isfinite(y)) r.worst = std::max(r.worst, std::abs(x - y));
    if (ok) continue;
    if (r.mismatches++ == 0) r.first = i, r.first_got = x, r.first_want = y;
  }
  return r;
}

template <typename A, typename B>
void check_close(const onenip::Tensor<A>& got, const onenip::Tensor<B>& want, Tol tol) {
  INFO("got ", onenip::shape_str(got.shape()), ", expected ", onenip::shape_str(want.shape()));
  Comparison c = compare(got, want, tol);
  INFO(c.str());
  CHECK(c.ok());
}
template <typename A, typename B>
void check_close(const onenip::Tensor<A>& got, const onenip::Tensor<B>& want, double atol = 1e-6,
                 double rtol = 1e-6) {
  check_close(got, want, Tol{atol, rtol});
}
// Within rtol of the reference, relative to the reference's largest magnitude.
template <typename A, typename B>
void check_rel(const onenip::Tensor<A>& got, const onenip::Tensor<B>& want, double rtol) {
  check_close(got, want, Tol{0, rtol, rtol});
}
// Every element of `t` against `expected` in row-major order.
template <typename T>
void check_values(const onenip::Tensor<T>& t, const std::vector<double>& expected, double atol = 1e-6,
                  double rtol = 1e-6) {
  REQUIRE(t.numel() == int64_t(expected.size()));
  auto flat = t.contiguous().reshape({t.numel()});
  check_close(flat, onenip::tensor<double>(expected, {int64_t(expected.size())}), Tol{atol, rtol});
}

inline void check_gradients(const onenip::GradFn& f, const std::vector<onenip::TensorD>& inputs,
                            onenip::GradCheckOptions opt = {}) {
  auto r = onenip::gradcheck(f, inputs, opt);
  INFO(r.message, " max abs error ", r.max_abs_error);
  CHECK(r.ok);
}

// tests/fixtures/<name>
inline std::string fixture_path(const std::string& name) {
  return std::string(ONENIP_SOURCE_DIR) + "/tests/fixtures/" + name;
}
// The safetensors fixture tests/fixtures/<name>, opened once per process.
inline const onenip::io::SafeTensorsFile& fixture(const std::string& name) {
  static std::map<std::string, std::unique_ptr<onenip::io::SafeTensorsFile>> open;
  auto& f = open[name];
  if (!f) f = std::make_unique<onenip::io::SafeTensorsFile>(fixture_path(name));
  return *f;
}

// ../shared beside the project, or empty when absent (tests then skip with a message).
inline std::string shared_dir() {
  std::filesystem::path p(ONENIP_SHARED_DIR);
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace testing

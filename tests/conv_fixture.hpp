// Checking an op against one case of tests/fixtures/conv_fixtures.safetensors (written by
// tests/fixtures/export_conv_fixtures.py): NAME.<input> inputs, NAME.gout, and the float64
// results NAME.out and NAME.g<input> (gradients of sum(out * gout)).
#pragma once

#include "helpers.hpp"

#include <functional>

namespace testing {

template <typename T>
using OpFn = std::function<onenip::Tensor<T>(const std::vector<onenip::Tensor<T>>&)>;

// Run fn on the case's inputs named in `names` (undefined where the file has none, e.g. no
// bias) and compare its output and input gradients. With `noncontig`, 4-D inputs are given as
// NHWC-ordered memory viewed as NCHW (non-contiguous strides). Cases without NAME.gout (blur)
// check the output only.
template <typename T>
void check_case(const std::string& name, const std::vector<std::string>& names, const OpFn<T>& fn, double atol,
                double rtol, bool noncontig) {
  using onenip::Tensor;
  const auto& f = fixture("conv_fixtures.safetensors");
  INFO("case ", name, std::string(sizeof(T) == 4 ? " float" : " double"),
       std::string(noncontig ? " non-contiguous" : ""));
  std::vector<Tensor<T>> in;
  for (const auto& k : names) {
    if (!f.contains(name + "." + k)) {
      in.emplace_back();
      continue;
    }
    Tensor<T> t = f.get<T>(name + "." + k);
    if (noncontig && t.dim() == 4) {
      Tensor<T> nhwc = t.permute({0, 2, 3, 1}).contiguous().permute({0, 3, 1, 2});
      if (nhwc.is_contiguous()) {  // one channel: take every other column of a wider buffer instead
        nhwc = onenip::zeros<T>({t.size(0), t.size(1), t.size(2), 2 * t.size(3)}).slice(3, 0, 2 * t.size(3), 2);
        nhwc.copy_(t);
      }
      t = nhwc;
      REQUIRE_FALSE(t.is_contiguous());
    }
    in.push_back(t.set_requires_grad(true));
  }
  Tensor<T> out = fn(in);
  check_close(out, f.get<T>(name + ".out"), atol, rtol);
  if (!f.contains(name + ".gout")) return;
  out.backward(f.get<T>(name + ".gout"));
  for (size_t i = 0; i < names.size(); ++i) {
    if (!in[i].defined()) continue;
    INFO("gradient of ", names[i]);
    REQUIRE(in[i].grad().defined());
    check_close(in[i].grad(), f.get<T>(name + ".g" + names[i]), atol, rtol);
  }
}

// The case in float (tolerance for float rounding) and double (tight), each contiguous and not.
template <typename F>
void check_case_all(const std::string& name, const std::vector<std::string>& names, F&& make_fn) {
  for (bool nc : {false, true}) {
    check_case<float>(name, names, make_fn(float()), 2e-5, 1e-5, nc);
    check_case<double>(name, names, make_fn(double()), 1e-11, 1e-11, nc);
  }
}

}  // namespace testing

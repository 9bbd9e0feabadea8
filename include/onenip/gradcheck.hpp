/// \file
/// Gradient checking by central finite differences, in double precision.
///
/// The function under test maps inputs to one output tensor y. The check contracts y with a
/// fixed random weight w (L = sum(w * y)), so every output element is tested, then compares
/// dL/dx from backward() with (L(x + h e) - L(x - h e)) / 2h, h relative to |x|:
///   - full mode: e runs over every element of every input (small ops);
///   - direction mode: e is a few random directions (large ops), compared with <grad, e>.
/// It also checks accumulation: with .grad pre-filled with G0, a second backward must leave
/// G0 + dL/dx.
#pragma once

#include <functional>
#include <sstream>

#include "ops/reduce.hpp"

namespace onenip {

struct GradCheckOptions {
  double eps = 1e-6;        ///< relative step: h = eps * max(1, |x|)
  double atol = 1e-6;
  double rtol = 1e-4;
  int directions = 0;       ///< 0: every element; > 0: that many random directions
  uint64_t seed = 1234;
  bool check_accumulation = true;
};

struct GradCheckResult {
  bool ok = true;
  double max_abs_error = 0, max_rel_error = 0;
  std::string message;  ///< what failed, where
  explicit operator bool() const { return ok; }
};

using GradFn = std::function<TensorD(const std::vector<TensorD>&)>;

namespace detail {
inline double contract(const GradFn& f, const std::vector<TensorD>& xs, const TensorD& w) {
  NoGradGuard ng;
  TensorD y = f(xs).contiguous();
  ONENIP_CHECK(y.shape() == w.shape(), "gradcheck: output shape changed between calls");
  double s = 0;
  for (int64_t i = 0; i < y.numel(); ++i) s += y.data()[i] * w.data()[i];
  return s;
}

inline bool close(double a, double n, const GradCheckOptions& o, GradCheckResult& r) {
  double err = std::abs(a - n);
  double rel = err / std::max(1e-12, std::max(std::abs(a), std::abs(n)));
  r.max_abs_error = std::max(r.max_abs_error, err);
  if (err > o.atol) r.max_rel_error = std::max(r.max_rel_error, rel);
  return err <= o.atol + o.rtol * std::abs(n);
}
}  // namespace detail

inline GradCheckResult gradcheck(const GradFn& f, std::vector<TensorD> inputs, const GradCheckOptions& opt = {}) {
  GradCheckResult res;
  Generator gen(opt.seed);
  std::vector<TensorD> xs;
  for (auto& x : inputs) {
    TensorD leaf = x.detach().contiguous().clone();
    leaf.set_requires_grad(true);
    xs.push_back(leaf);
  }
  TensorD y = f(xs);
  TensorD w = randn<double>(y.shape(), 0.0, 1.0, gen);
  y.backward(w, opt.check_accumulation);
  std::vector<TensorD> analytic;
  for (auto& x : xs) analytic.push_back(x.grad().defined() ? x.grad().clone() : zeros<double>(x.shape()));

  std::ostringstream why;
  auto numeric_along = [&](const std::vector<TensorD>& dir) {
    // central difference of L along `dir` (a perturbation per input, relative step)
    std::vector<TensorD> plus, minus;
    for (size_t k = 0; k < xs.size(); ++k) {
      TensorD p = xs[k].detach().clone(), m = xs[k].detach().clone();
      for (int64_t i = 0; i < p.numel(); ++i) {
        double h = opt.eps * std::max(1.0, std::abs(p.data()[i])) * dir[k].data()[i];
        p.data()[i] += h;
        m.data()[i] -= h;
      }
      plus.push_back(p);
      minus.push_back(m);
    }
    return detail::contract(f, plus, w) - detail::contract(f, minus, w);
  };

  if (opt.directions <= 0) {
    for (size_t k = 0; k < xs.size(); ++k) {
      for (int64_t i = 0; i < xs[k].numel(); ++i) {
        std::vector<TensorD> dir;
        for (auto& x : xs) dir.push_back(zeros<double>(x.shape()));
        dir[k].data()[i] = 1.0;
        double h = opt.eps * std::max(1.0, std::abs(xs[k].data()[i]));
        double num = numeric_along(dir) / (2 * h);
        double ana = analytic[k].data()[i];
        if (!detail::close(ana, num, opt, res) && res.ok) {
          res.ok = false;
          why << "input " << k << " element " << i << ": analytic " << ana << " vs numeric " << num << "; ";
        }
      }
    }
  } else {
    for (int d = 0; d < opt.directions; ++d) {
      // direction scaled per element by 1/max(1,|x|) so the step along it is exactly eps
      std::vector<TensorD> dir;
      double ana = 0;
      for (size_t k = 0; k < xs.size(); ++k) {
        TensorD v = randn<double>(xs[k].shape(), 0.0, 1.0, gen);
        for (int64_t i = 0; i < v.numel(); ++i) ana += analytic[k].data()[i] * v.data()[i] * std::max(1.0, std::abs(xs[k].data()[i]));
        dir.push_back(v);
      }
      double num = numeric_along(dir) / (2 * opt.eps);
      if (!detail::close(ana, num, opt, res) && res.ok) {
        res.ok = false;
        why << "direction " << d << ": analytic " << ana << " vs numeric " << num << "; ";
      }
    }
  }

  if (opt.check_accumulation) {
    std::vector<TensorD> before;
    for (auto& x : xs) {
      TensorD g0 = randn<double>(x.shape(), 0.0, 1.0, gen);
      x.set_grad(g0.clone());
      before.push_back(g0);
    }
    y.backward(w, false);
    for (size_t k = 0; k < xs.size(); ++k) {
      TensorD got = xs[k].grad();
      for (int64_t i = 0; i < got.numel(); ++i) {
        double expect = before[k].data()[i] + analytic[k].data()[i];
        if (std::abs(got.data()[i] - expect) > 1e-9 * std::max(1.0, std::abs(expect)) && res.ok) {
          res.ok = false;
          why << "accumulation: input " << k << " element " << i << " has " << got.data()[i] << ", expected "
              << expect << "; ";
        }
      }
    }
  }
  res.message = why.str();
  return res;
}

}  // namespace onenip

// The op-test harness, in the spirit of ggml's test-backend-ops. Each op is declared once: its
// inputs (shape, how values are drawn, the layout the op sees), the function, an optional
// reference (a composite or a formula) and its tolerances:
//
//   Op("div", []<class T>(const In<T>& x) { return x[0] / x[1]; })
//       .in({2, 3, 4}).in({3, 1}, positive(), transposed(0, 1)).check();
//
// check() runs, for every backend in onenip::available_devices():
//   - the forward in float on the device against the reference (the op itself when there is
//     none) in double on the CPU, and the float gradients against the double ones, with the
//     op's float tolerance;
//   - the forward in double against the reference (when there is one, or off the CPU);
//   - the double gradients: onenip::gradcheck on the CPU (full or random-direction mode, with
//     its accumulation check), against the CPU's gradients on other devices;
//   - optionally the op's double gradients against the reference's (fused vs composite).
// Each check prints one line: op, device, precision, the tolerance used and the worst error
// seen; with ONENIP_OP_LOG=file the lines are also appended to that file.
//
// On the emulated CUDA backend (cuda/simt) every device check runs under three schedules
// (threads forward; threads and blocks reversed; a seeded shuffle), and the results of the later
// ones must equal the first bit for bit, unless a kernel of the op declared itself
// non-deterministic (float atomics): then they are compared with the float tolerance. A device
// whose backend has no kernel for the op yet gets a "skipped" line.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "helpers.hpp"

#if defined(ONENIP_CUDA_EMULATED)
#include "simt/emulator.hpp"
#endif

namespace testing {

template <typename T>
using In = std::vector<onenip::Tensor<T>>;

// An undefined tensor of the op's scalar type (no bias, no mask).
template <typename T>
onenip::Tensor<T> none(const In<T>&) {
  return {};
}

// ---- how an input's values are drawn (in double, from the op's generator) ----
using Draw = std::function<onenip::TensorD(const onenip::Shape&, onenip::Generator&)>;

inline Draw normal(double mean = 0, double sd = 1) {
  return [=](const onenip::Shape& s, onenip::Generator& g) { return onenip::randn<double>(s, mean, sd, g); };
}
inline Draw uniform(double lo, double hi) {
  return [=](const onenip::Shape& s, onenip::Generator& g) { return onenip::rand<double>(s, lo, hi, g); };
}
// For log, sqrt, pow, divisors.
inline Draw positive(double lo = 0.1, double hi = 2) { return uniform(lo, hi); }
// Values of `base` moved at least `margin` away from each kink (relu, abs, clamp): finite
// differences straddling a kink measure neither side's slope.
inline Draw away_from(std::vector<double> kinks, Draw base = normal(0, 2), double margin = 0.05) {
  return [=](const onenip::Shape& s, onenip::Generator& g) {
    return onenip::map_unary(base(s, g), [&](double v) {
      for (double k : kinks)
        if (std::abs(v - k) < margin) v = v < k ? k - margin : k + margin;
      return v;
    });
  };
}

// ---- the layout the op sees: a view of the stored leaf, so strided kernels are exercised ----
struct Layout {
  enum Kind { contiguous, transposed, strided, padded, broadcast } kind = contiguous;
  int64_t a = 0, b = 0;

  // Shape of the stored leaf whose view has shape `s`.
  onenip::Shape stored(onenip::Shape s) const {
    if (kind == transposed) std::swap(s[size_t(a)], s[size_t(b)]);
    if (kind == strided) s[size_t(a)] *= b;
    if (kind == padded) s[size_t(a)] += b;
    if (kind == broadcast) s[size_t(a)] = 1;
    return s;
  }
  template <typename T>
  onenip::Tensor<T> view(const onenip::Tensor<T>& leaf, const onenip::Shape& s) const {
    if (!leaf.defined()) return leaf;
    switch (kind) {
      case transposed: return leaf.transpose(a, b);
      case strided: return leaf.slice(a, 0, s[size_t(a)] * b, b);
      case padded: return leaf.narrow(a, 0, s[size_t(a)]);
      case broadcast: return leaf.expand(s);
      default: return leaf;
    }
  }
  std::string str() const {
    switch (kind) {
      case transposed: return " transposed(" + std::to_string(a) + "," + std::to_string(b) + ")";
      case strided: return " strided(dim " + std::to_string(a) + ", step " + std::to_string(b) + ")";
      case padded: return " padded(dim " + std::to_string(a) + ", +" + std::to_string(b) + ")";
      case broadcast: return " broadcast(dim " + std::to_string(a) + ")";
      default: return "";
    }
  }
};
// The op gets leaf.transpose(a, b).
inline Layout transposed(int64_t a, int64_t b) { return {Layout::transposed, a, b}; }
// The op gets every step-th element of the leaf along dim.
inline Layout strided(int64_t dim, int64_t step) { return {Layout::strided, dim, step}; }
// The op gets the start of a leaf `extra` longer along dim (a row pitch larger than the row).
inline Layout padded(int64_t dim, int64_t extra) { return {Layout::padded, dim, extra}; }
// The op gets a leaf of size 1 along dim expanded (stride 0): its gradient is a sum.
inline Layout broadcast(int64_t dim) { return {Layout::broadcast, dim, 0}; }

// ---- the op ----
struct OpCheck {
  std::string what;  // "cpu float forward", ...
  bool ok = true;
  std::string tolerance, result;
};

class Op {
public:
  using RefFn = std::function<onenip::TensorD(const In<double>&)>;

  // `fn` is generic over the scalar type (a lambda template): it gives the float and the
  // double version of the op.
  template <typename F>
  Op(std::string name, F fn) : name_(std::move(name)), f32_(fn), f64_(fn) {}

  // An input the op is differentiated by.
  Op& in(onenip::Shape shape, Draw draw = normal(), Layout layout = {}) {
    inputs_.push_back({std::move(shape), std::move(draw), layout, true});
    return *this;
  }
  // An input the op is not differentiated by (masks, running statistics).
  Op& constant(onenip::Shape shape, Draw draw = normal(), Layout layout = {}) {
    inputs_.push_back({std::move(shape), std::move(draw), layout, false});
    return *this;
  }
  // The reference forward, in double; with `grads`, the op's gradients must equal its too.
  Op& ref(RefFn r, bool grads = false) {
    ref_ = std::move(r);
    ref_grads_ = grads;
    return *this;
  }
  // Float forward and float gradients against double.
  Op& ftol(double atol, double rtol, double peak = 0) {
    ftol_ = {atol, rtol, peak};
    return *this;
  }
  // Double forward (and gradients) against the reference or another device.
  Op& dtol(double atol, double rtol) {
    dtol_ = {atol, rtol};
    return *this;
  }
  Op& grad_tol(double atol, double rtol) {
    gopt_.atol = atol, gopt_.rtol = rtol;
    return *this;
  }
  // Random-direction gradcheck (large ops) instead of every element.
  Op& directions(int n) {
    gopt_.directions = n;
    return *this;
  }
  Op& no_grad() {
    grads_ = false;
    return *this;
  }
  Op& seed(uint64_t s) {
    seed_ = s;
    return *this;
  }

  // Every check, without asserting (the harness's own test uses this).
  std::vector<OpCheck> run() const;
  // Every check, each a doctest CHECK, each printed.
  void check() const {
    for (const auto& c : run()) {
      std::string line = "op " + name_ + " | " + c.what + " | tol " + c.tolerance + " | " + c.result;
      std::printf("%s\n", line.c_str());
      if (const char* log = std::getenv("ONENIP_OP_LOG"))
        if (FILE* f = std::fopen(log, "a")) std::fprintf(f, "%s\n", line.c_str()), std::fclose(f);
      CHECK_MESSAGE(c.ok, line);
    }
  }

private:
  struct Input {
    onenip::Shape shape;
    Draw draw;
    Layout layout;
    bool grad;
  };

  template <typename T, typename F>
  onenip::Tensor<T> apply(const F& fn, const In<T>& leaves) const {
    In<T> views;
    for (size_t i = 0; i < leaves.size(); ++i) views.push_back(inputs_[i].layout.view(leaves[i], inputs_[i].shape));
    return fn(views);
  }
  // Leaves for one evaluation: the stored values in T on `dev`, differentiable ones requiring grad.
  template <typename T>
  In<T> leaves(const In<double>& stored, onenip::Device dev) const {
    In<T> out;
    for (size_t i = 0; i < stored.size(); ++i) {
      onenip::Tensor<T> t;
      if constexpr (std::is_same_v<T, double>) t = stored[i].clone().to(dev);
      else t = onenip::cast<T>(stored[i]).to(dev);
      if (inputs_[i].grad) t.set_requires_grad(true);
      out.push_back(t);
    }
    return out;
  }
  // Output and the gradients of the differentiable inputs for upstream gradient `up`.
  template <typename T, typename F>
  std::pair<onenip::Tensor<T>, In<T>> forward_backward(const F& fn, const In<double>& stored, onenip::Device dev,
                                                        const onenip::TensorD& up) const {
    In<T> xs = leaves<T>(stored, dev);
    onenip::Tensor<T> y = apply<T>(fn, xs);
    In<T> grads;
    if (grads_) {
      onenip::Tensor<T> u;
      if constexpr (std::is_same_v<T, double>) u = up.to(dev);
      else u = onenip::cast<T>(up).to(dev);
      y.backward(u);
      for (size_t i = 0; i < xs.size(); ++i)
        if (inputs_[i].grad)
          grads.push_back(xs[i].grad().defined() ? xs[i].grad() : onenip::zeros<T>(xs[i].shape()).to(dev));
    }
    for (auto& g : grads) g = g.cpu();
    return {y.detach().cpu(), grads};
  }

  // Float and double forward and gradients on a device other than the CPU, against the CPU's;
  // on the emulator, under each schedule, each equal to the first.
  template <typename Compared, typename ComparedGrads>
  void device_checks(onenip::Device dev, const In<double>& stored, const onenip::TensorD& up,
                     const onenip::TensorD& want, const In<double>& g64, Compared& compared,
                     ComparedGrads& compared_grads) const {
    using namespace onenip;
    const std::string d = device_name(dev);
    auto both = [&](const std::string& tag) {
      auto r32 = forward_backward<float>(f32_, stored, dev, up);
      auto r64 = forward_backward<double>(f64_, stored, dev, up);
      compared(d + tag + " float forward vs double", compare(r32.first, want, ftol_), ftol_);
      compared_grads(d + tag + " float vs double", r32.second, g64, ftol_);
      compared(d + tag + " double forward vs cpu", compare(r64.first, want, dtol_), dtol_);
      compared_grads(d + tag + " double vs cpu", r64.second, g64, dtol_);
      return std::make_pair(r32, r64);
    };
#if defined(ONENIP_CUDA_EMULATED)
    if (dev == Device::CUDA) {
      const simt::Schedule saved = simt::schedule();
      const simt::Schedule schedules[] = {
          {simt::Order::Forward, false, 0}, {simt::Order::Reverse, true, 0}, {simt::Order::Random, false, seed_}};
      std::pair<std::pair<TensorF, In<float>>, std::pair<TensorD, In<double>>> first;
      try {
        for (size_t k = 0; k < 3; ++k) {
          simt::set_schedule(schedules[k]);
          simt::launch_stats().nondeterministic = false;
          const std::string tag = std::string(" [") + simt::order_name(schedules[k].threads) +
                                  (schedules[k].reverse_blocks ? ", blocks reversed" : "") + "]";
          auto r = both(tag);
          if (k == 0) {
            first = r;
            continue;
          }
          const bool exact = !simt::launch_stats().nondeterministic;
          const Tol same32 = exact ? Tol{0, 0} : ftol_, same64 = exact ? Tol{0, 0} : dtol_;
          auto same = [&](const auto& a, const auto& b, const Tol& t, const std::string& what) {
            compared(d + tag + " " + what + (exact ? " bitwise" : " within tolerance") + " vs forward order",
                     compare(a, b, t), t);
          };
          same(r.first.first, first.first.first, same32, "float forward");
          same(r.second.first, first.second.first, same64, "double forward");
          for (size_t i = 0; i < r.first.second.size(); ++i) {
            same(r.first.second[i], first.first.second[i], same32, "float gradient " + std::to_string(i));
            same(r.second.second[i], first.second.second[i], same64, "double gradient " + std::to_string(i));
          }
        }
      } catch (...) {
        simt::set_schedule(saved);
        throw;
      }
      simt::set_schedule(saved);
      return;
    }
#endif
    both("");
  }

  std::string name_;
  std::function<onenip::TensorF(const In<float>&)> f32_;
  std::function<onenip::TensorD(const In<double>&)> f64_;
  RefFn ref_;
  bool ref_grads_ = false, grads_ = true;
  std::vector<Input> inputs_;
  Tol ftol_{1e-5, 1e-5}, dtol_{1e-12, 1e-12};
  onenip::GradCheckOptions gopt_;
  uint64_t seed_ = 1;
};

inline std::string tol_str(const Tol& t) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "atol %.1e rtol %.1e%s", t.atol, t.rtol,
                t.peak > 0 ? (" peak " + std::to_string(t.peak)).c_str() : "");
  return buf;
}

inline std::vector<OpCheck> Op::run() const {
  using namespace onenip;
  std::vector<OpCheck> out;
  std::string layouts;
  for (size_t i = 0; i < inputs_.size(); ++i)
    layouts += (i ? ", " : "") + shape_str(inputs_[i].shape) + inputs_[i].layout.str() + (inputs_[i].grad ? "" : " const");
  auto compared = [&](std::string what, const Comparison& c, const Tol& t) {
    out.push_back({std::move(what), c.ok(), tol_str(t), c.str() + " | inputs " + layouts});
  };
  auto compared_grads = [&](const std::string& what, const auto& got, const In<double>& want, const Tol& t) {
    for (size_t i = 0; i < want.size(); ++i)
      compared(what + " gradient " + std::to_string(i), compare(got[i], want[i], t), t);
  };

  Generator gen(seed_);
  In<double> stored;
  for (const auto& in : inputs_) stored.push_back(in.draw(in.layout.stored(in.shape), gen));
  TensorD want;
  {
    NoGradGuard ng;
    want = ref_ ? apply<double>(ref_, stored) : apply<double>(f64_, stored);
  }
  TensorD up = randn<double>(want.shape(), 0.0, 1.0, gen);
  auto [y64, g64] = forward_backward<double>(f64_, stored, Device::CPU, up);
  if (ref_) compared("cpu double forward vs reference", compare(y64, want, dtol_), dtol_);
  if (ref_ && ref_grads_) {
    auto [yr, gr] = forward_backward<double>(ref_, stored, Device::CPU, up);
    compared_grads("cpu double vs reference", g64, gr, dtol_);
  }

  for (Device dev : available_devices()) {
    if (dev != Device::CPU) {
      try {
        device_checks(dev, stored, up, want, g64, compared, compared_grads);
      } catch (const kernels::NoKernelError& e) {
        out.push_back({std::string(device_name(dev)) + " skipped", true, "-", e.what()});
      }
      continue;
    }
    const std::string d = device_name(dev);
    auto [y32, g32] = forward_backward<float>(f32_, stored, dev, up);
    compared(d + " float forward vs double", compare(y32, want, ftol_), ftol_);
    compared_grads(d + " float vs double", g32, g64, ftol_);
    if (grads_) {
      // gradcheck differentiates by the differentiable inputs; constants are put back in place
      In<double> diff;
      for (size_t i = 0; i < stored.size(); ++i)
        if (inputs_[i].grad) diff.push_back(stored[i]);
      GradFn f = [&](const In<double>& xs) {
        In<double> all;
        for (size_t i = 0, k = 0; i < stored.size(); ++i) all.push_back(inputs_[i].grad ? xs[k++] : stored[i].clone());
        return apply<double>(f64_, all);
      };
      GradCheckResult r = gradcheck(f, diff, gopt_);
      char tol[160], res[96];
      std::snprintf(tol, sizeof tol, "atol %.1e rtol %.1e eps %.0e, %s", gopt_.atol, gopt_.rtol, gopt_.eps,
                    gopt_.directions > 0 ? (std::to_string(gopt_.directions) + " directions").c_str() : "every element");
      std::snprintf(res, sizeof res, "max abs error %.2e", r.max_abs_error);
      out.push_back({"cpu double gradcheck", r.ok, tol, res + (r.ok ? "" : " " + r.message) + " | inputs " + layouts});
    }
  }
  return out;
}

}  // namespace testing

/// \file
/// Adam and AdamW, step for step as torch.optim.Adam / AdamW (single-tensor CPU path):
///   AdamW: p <- p * (1 - lr * wd)            (decoupled decay, Loshchilov & Hutter 2019)
///   Adam:  g <- g + wd * p                   (L2 in the gradient)
///   m <- lerp(m, g, 1 - b1);  v <- b2 v + (1 - b2) g^2
///   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// As in PyTorch, each parameter has its own step count t and its moments are created at its
/// first gradient; a parameter without a gradient is skipped (no decay, no step).
#pragma once

#include <cmath>

#include "../kernels/optim.hpp"
#include "optimizer.hpp"

namespace onenip::optim {

/// Adam and AdamW, step for step as torch.optim.Adam / AdamW (see adamw.hpp).
template <typename T>
class AdamW : public Optimizer<T> {
public:
  struct Options {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
    bool decoupled = true;  ///< false: plain Adam with L2 weight decay
  };
  AdamW(std::vector<Tensor<T>> params, Options o)
      : Optimizer<T>(std::move(params), o.lr), o_(o), steps_(this->params_.size(), 0),
        exp_avg_(this->params_.size()), exp_avg_sq_(this->params_.size()) {
    ONENIP_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, kind(), ": betas must be in [0, 1), got (",
                 o.beta1, ", ", o.beta2, ")");
    ONENIP_CHECK(o.eps >= 0 && o.weight_decay >= 0, kind(), ": eps and weight_decay must be >= 0, got ", o.eps, " and ",
                 o.weight_decay);
  }

  std::string kind() const override { return o_.decoupled ? "AdamW" : "Adam"; }

  void step() override {
    NoGradGuard ng;
    for (size_t i = 0; i < this->params_.size(); ++i) {
      Tensor<T>& p = this->params_[i];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      if (!exp_avg_[i].defined()) {
        exp_avg_[i] = zeros_like(p);
        exp_avg_sq_[i] = zeros_like(p);
      }
      const int64_t t = ++steps_[i];
      // Scalars are formed in double and rounded to T once, as PyTorch does with Python floats.
      const double bc1 = 1 - std::pow(o_.beta1, double(t));
      const T step_size = T(this->lr_ / bc1), bc2_sqrt = T(std::sqrt(1 - std::pow(o_.beta2, double(t))));
      const T w1 = T(1 - o_.beta1), b2 = T(o_.beta2), w2 = T(1 - o_.beta2), eps = T(o_.eps);
      const T decay = T(1 - this->lr_ * o_.weight_decay), l2 = T(o_.weight_decay);
      const bool decoupled = o_.decoupled, use_l2 = !decoupled && o_.weight_decay != 0;
      g = g.contiguous();
      ONENIP_CHECK(p.is_contiguous(), kind(), ": parameter ", i, " is not contiguous");
      kernels::AdamWProblem<T> k;
      k.device = kernels::common_device<T>("AdamW.step", {&p, &g, &exp_avg_[i], &exp_avg_sq_[i]});
      k.n = p.numel(), k.p = p.data_ptr(), k.g = g.data_ptr();
      k.m = exp_avg_[i].data_ptr(), k.v = exp_avg_sq_[i].data_ptr();
      k.step_size = step_size, k.bc2_sqrt = bc2_sqrt, k.w1 = w1, k.b2 = b2, k.w2 = w2, k.eps = eps;
      k.decay = decay, k.l2 = l2, k.decoupled = decoupled, k.use_l2 = use_l2;
      kernels::adamw_step(k);
      p.bump_version();
    }
  }

  OptimizerState<T> state() const override {
    OptimizerState<T> s{kind(), {{"exp_avg", exp_avg_}, {"exp_avg_sq", exp_avg_sq_}}, {}};
    s.scalars = {{"lr", this->lr_},        {"step", steps_},        {"beta1", o_.beta1},
                 {"beta2", o_.beta2},      {"eps", o_.eps},         {"weight_decay", o_.weight_decay}};
    return s;
  }

  void load_state(const OptimizerState<T>& s) override {
    this->check_state(s, {"exp_avg", "exp_avg_sq"});
    std::vector<int64_t> steps;
    try {
      steps = s.scalars.at("step").template get<std::vector<int64_t>>();
    } catch (const std::exception& e) {
      onenip::detail::fail(kind(), ": the saved state has no valid 'step' list: ", e.what());
    }
    ONENIP_CHECK(steps.size() == this->params_.size(), kind(), ": the saved state has ", steps.size(),
                 " step counts for ", this->params_.size(), " parameters");
    auto m = this->restore_slot(s, "exp_avg"), v = this->restore_slot(s, "exp_avg_sq");
    for (size_t i = 0; i < steps.size(); ++i)
      ONENIP_CHECK((steps[i] > 0) == m[i].defined() && m[i].defined() == v[i].defined(), kind(),
                   ": parameter ", i, " has step ", steps[i], " but ", m[i].defined() ? "" : "no ", "exp_avg and ",
                   v[i].defined() ? "" : "no ", "exp_avg_sq in the saved state");
    if (s.scalars.contains("lr")) this->set_lr(s.scalars["lr"].template get<double>());
    steps_ = std::move(steps);
    exp_avg_ = std::move(m);
    exp_avg_sq_ = std::move(v);
  }

  int64_t step_count(size_t i) const { return steps_.at(i); }
  const std::vector<Tensor<T>>& exp_avg() const { return exp_avg_; }
  const std::vector<Tensor<T>>& exp_avg_sq() const { return exp_avg_sq_; }
  const Options& options() const { return o_; }

private:
  Options o_;
  std::vector<int64_t> steps_;
  std::vector<Tensor<T>> exp_avg_, exp_avg_sq_;
};

}  // namespace onenip::optim

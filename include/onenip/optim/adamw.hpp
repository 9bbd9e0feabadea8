// Adam and AdamW, step for step as torch.optim.Adam / AdamW (Loshchilov & Hutter 2019):
//   AdamW: p <- p * (1 - lr * wd)            (decoupled decay)
//   Adam:  g <- g + wd * p                   (L2 in the gradient)
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
#pragma once

#include <cmath>

#include "optimizer.hpp"

namespace onenip::optim {

template <typename T>
class AdamW : public Optimizer<T> {
public:
  struct Options {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
    bool decoupled = true;  // false: plain Adam with L2 weight decay
  };
  AdamW(std::vector<Tensor<T>> params, Options o) : Optimizer<T>(std::move(params), o.lr), o_(o) {
    for (auto& p : this->params_) {
      exp_avg_.push_back(zeros<T>(p.shape()));
      exp_avg_sq_.push_back(zeros<T>(p.shape()));
    }
  }

  void step() override {
    NoGradGuard ng;
    ++step_;
    const double bc1 = 1 - std::pow(o_.beta1, double(step_));
    const double bc2_sqrt = std::sqrt(1 - std::pow(o_.beta2, double(step_)));
    const T b1 = T(o_.beta1), b2 = T(o_.beta2), eps = T(o_.eps);
    const T step_size = T(this->lr_ / bc1), inv_bc2 = T(1 / bc2_sqrt);
    const T decay = T(1 - this->lr_ * o_.weight_decay), l2 = T(o_.weight_decay);
    for (size_t i = 0; i < this->params_.size(); ++i) {
      Tensor<T>& p = this->params_[i];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      g = g.contiguous();
      ONENIP_CHECK(p.is_contiguous(), "AdamW: parameter ", i, " is not contiguous");
      T* pp = p.data();
      const T* gp = g.data();
      T* m = exp_avg_[i].data();
      T* v = exp_avg_sq_[i].data();
      const bool decoupled = o_.decoupled;
      parallel_for(p.numel(), 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          T gk = gp[k];
          if (decoupled) pp[k] *= decay;
          else gk += l2 * pp[k];
          m[k] = b1 * m[k] + (T(1) - b1) * gk;
          v[k] = b2 * v[k] + (T(1) - b2) * gk * gk;
          pp[k] -= step_size * m[k] / (std::sqrt(v[k]) * inv_bc2 + eps);
        }
      });
      p.bump_version();
    }
  }

  // State for checkpoints.
  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  std::vector<Tensor<T>>& exp_avg() { return exp_avg_; }
  std::vector<Tensor<T>>& exp_avg_sq() { return exp_avg_sq_; }
  const Options& options() const { return o_; }

private:
  Options o_;
  int64_t step_ = 0;
  std::vector<Tensor<T>> exp_avg_, exp_avg_sq_;
};

}  // namespace onenip::optim

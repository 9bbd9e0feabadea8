// Optimiser base: the parameters it updates, the learning rate, zero_grad.
#pragma once

#include "../ops/elementwise.hpp"

namespace onenip::optim {

template <typename T>
class Optimizer {
public:
  explicit Optimizer(std::vector<Tensor<T>> params, double lr) : params_(std::move(params)), lr_(lr) {
    for (size_t i = 0; i < params_.size(); ++i)
      ONENIP_CHECK(params_[i].is_leaf() && params_[i].requires_grad(), "optimizer: parameter ", i,
                   " is not a leaf that requires grad");
  }
  virtual ~Optimizer() = default;
  virtual void step() = 0;

  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }
  double lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  const std::vector<Tensor<T>>& params() const { return params_; }

protected:
  std::vector<Tensor<T>> params_;
  double lr_;
};

}  // namespace onenip::optim

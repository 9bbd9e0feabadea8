// SGD with momentum, dampening, Nesterov and (coupled) weight decay, as torch.optim.SGD.
#pragma once

#include "optimizer.hpp"

namespace onenip::optim {

template <typename T>
class SGD : public Optimizer<T> {
public:
  struct Options {
    double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false;
  };
  SGD(std::vector<Tensor<T>> params, Options o) : Optimizer<T>(std::move(params), o.lr), o_(o) {
    momentum_.resize(this->params_.size());
  }

  void step() override {
    NoGradGuard ng;
    for (size_t i = 0; i < this->params_.size(); ++i) {
      Tensor<T>& p = this->params_[i];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      if (o_.weight_decay != 0) g = map_binary(g, p, [wd = T(o_.weight_decay)](T gg, T x) { return gg + wd * x; });
      if (o_.momentum != 0) {
        Tensor<T>& buf = momentum_[i];
        if (!buf.defined()) {
          buf = g.clone();
        } else {
          buf.mul_(T(o_.momentum)).add_(g, T(1 - o_.dampening));
        }
        g = o_.nesterov ? map_binary(g, buf, [m = T(o_.momentum)](T gg, T b) { return gg + m * b; }) : buf;
      }
      p.add_(g, T(-this->lr_));
    }
  }

  std::vector<Tensor<T>>& momentum_buffers() { return momentum_; }

private:
  Options o_;
  std::vector<Tensor<T>> momentum_;
};

}  // namespace onenip::optim

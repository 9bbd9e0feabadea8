/// \file
/// SGD with momentum, dampening, Nesterov and (coupled) weight decay, as torch.optim.SGD:
///   g <- g + wd p;  buf <- g (first step) or momentum buf + (1 - dampening) g
///   g <- g + momentum buf (Nesterov) or buf;  p <- p - lr g
#pragma once

#include "optimizer.hpp"

namespace onenip::optim {

/// SGD with momentum, dampening, Nesterov and weight decay, as torch.optim.SGD (see sgd.hpp).
template <typename T>
class SGD : public Optimizer<T> {
public:
  struct Options {
    double lr = 1e-2, momentum = 0, dampening = 0, weight_decay = 0;
    bool nesterov = false;
  };
  SGD(std::vector<Tensor<T>> params, Options o) : Optimizer<T>(std::move(params), o.lr), o_(o) {
    ONENIP_CHECK(o.momentum >= 0 && o.weight_decay >= 0, "SGD: momentum and weight_decay must be >= 0, got ",
                 o.momentum, " and ", o.weight_decay);
    ONENIP_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                 "SGD: Nesterov momentum needs momentum > 0 and dampening 0, got momentum ", o.momentum,
                 ", dampening ", o.dampening);
    momentum_.resize(this->params_.size());
  }

  std::string kind() const override { return "SGD"; }

  void step() override {
    NoGradGuard ng;
    for (size_t i = 0; i < this->params_.size(); ++i) {
      Tensor<T>& p = this->params_[i];
      Tensor<T> g = p.grad();
      if (!g.defined()) continue;
      if (o_.weight_decay != 0) g = map_binary(g, p, fn::Axpy<T>{T(o_.weight_decay)});
      if (o_.momentum != 0) {
        Tensor<T>& buf = momentum_[i];
        if (!buf.defined()) {
          buf = g.contiguous().clone();
        } else {
          buf.mul_(T(o_.momentum)).add_(g, T(1 - o_.dampening));
        }
        g = o_.nesterov ? map_binary(g, buf, fn::Axpy<T>{T(o_.momentum)}) : buf;
      }
      p.add_(g, T(-this->lr_));
    }
  }

  OptimizerState<T> state() const override {
    OptimizerState<T> s{kind(), {{"momentum_buffer", momentum_}}, {}};
    s.scalars = {{"lr", this->lr_}, {"momentum", o_.momentum}, {"dampening", o_.dampening},
                 {"weight_decay", o_.weight_decay}, {"nesterov", o_.nesterov}};
    return s;
  }

  void load_state(const OptimizerState<T>& s) override {
    this->check_state(s, {"momentum_buffer"});
    if (s.scalars.contains("lr")) this->set_lr(s.scalars["lr"].template get<double>());
    momentum_ = this->restore_slot(s, "momentum_buffer");
  }

  const std::vector<Tensor<T>>& momentum_buffers() const { return momentum_; }

private:
  Options o_;
  std::vector<Tensor<T>> momentum_;
};

}  // namespace onenip::optim

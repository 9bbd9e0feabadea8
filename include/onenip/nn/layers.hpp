/// \file
/// The basic layers: Linear, Conv2d, ConvTranspose2d, BatchNorm2d, LayerNorm, Dropout, ReLU.
/// Parameter names and layouts are PyTorch's, so state dicts map one to one.
#pragma once

#include "../ops/conv.hpp"
#include "../ops/dropout.hpp"
#include "../ops/linear.hpp"
#include "../distributed/sync_batch_norm.hpp"
#include "../ops/norm.hpp"
#include "init.hpp"
#include "module.hpp"

namespace onenip::nn {

/// y = x W^T + b on any leading dims. x [..., in] -> [..., out].
template <typename T>
class Linear : public Module<T> {
public:
  Tensor<T> weight, bias;  ///< [out, in], [out]
  Linear(int64_t in, int64_t out, bool with_bias, Generator& gen) {
    weight = this->register_parameter("weight", Tensor<T>::empty({out, in}));
    if (with_bias) bias = this->register_parameter("bias", Tensor<T>::empty({out}));
    init::default_linear_init_(weight, &bias, gen);
  }
  Tensor<T> forward(const Tensor<T>& x) const { return linear(x, weight, bias); }
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }
};

/// x [N, Cin, H, W] -> [N, Cout, H', W'].
template <typename T>
class Conv2d : public Module<T> {
public:
  Tensor<T> weight, bias;  ///< [Cout, Cin/groups, kh, kw], [Cout]
  Conv2dOptions options;
  Conv2d(int64_t in, int64_t out, int64_t kernel, const Conv2dOptions& opt, bool with_bias, Generator& gen)
      : options(opt) {
    ONENIP_CHECK(in % opt.groups == 0 && out % opt.groups == 0, "Conv2d: channels ", in, " -> ", out,
                 " are not divisible by groups ", opt.groups);
    weight = this->register_parameter("weight", Tensor<T>::empty({out, in / opt.groups, kernel, kernel}));
    if (with_bias) bias = this->register_parameter("bias", Tensor<T>::empty({out}));
    init::default_linear_init_(weight, &bias, gen);
  }
  Tensor<T> forward(const Tensor<T>& x) const { return conv2d(x, weight, bias, options); }
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }
};

/// x [N, Cin, H, W] -> [N, Cout, H', W']; weight layout [Cin, Cout/groups, kh, kw] as PyTorch.
template <typename T>
class ConvTranspose2d : public Module<T> {
public:
  Tensor<T> weight, bias;
  ConvTranspose2dOptions options;
  ConvTranspose2d(int64_t in, int64_t out, int64_t kernel, const ConvTranspose2dOptions& opt, bool with_bias,
                  Generator& gen)
      : options(opt) {
    weight = this->register_parameter("weight", Tensor<T>::empty({in, out / opt.groups, kernel, kernel}));
    if (with_bias) bias = this->register_parameter("bias", Tensor<T>::empty({out}));
    init::default_linear_init_(weight, &bias, gen);
  }
  Tensor<T> forward(const Tensor<T>& x) const { return conv_transpose2d(x, weight, bias, options); }
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }
};

/// Batch statistics in training (updating the running ones), running statistics in eval.
template <typename T>
class BatchNorm2d : public Module<T> {
public:
  Tensor<T> weight, bias, running_mean, running_var, num_batches_tracked;
  double eps, momentum;
  explicit BatchNorm2d(int64_t channels, double eps_ = 1e-5, double momentum_ = 0.1) : eps(eps_), momentum(momentum_) {
    weight = this->register_parameter("weight", ones<T>({channels}));
    bias = this->register_parameter("bias", zeros<T>({channels}));
    running_mean = this->register_buffer("running_mean", zeros<T>({channels}));
    running_var = this->register_buffer("running_var", ones<T>({channels}));
    num_batches_tracked = this->register_buffer("num_batches_tracked", zeros<T>({}));
  }
  Tensor<T> forward(const Tensor<T>& x) {
    if (this->is_training()) {
      NoGradGuard ng;
      num_batches_tracked.add_(ones<T>({}, num_batches_tracked.device()));
    }
    if (this->is_training() && sync_group)
      return distributed::sync_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps, *sync_group);
    return batch_norm(x, running_mean, running_var, weight, bias, this->is_training(), momentum, eps);
  }
  /// Set: training statistics over every rank of this group's batch (synchronised batch norm).
  std::shared_ptr<distributed::Communicator> sync_group;
  Tensor<T> operator()(const Tensor<T>& x) { return forward(x); }
};

/// Over the last dim.
template <typename T>
class LayerNorm : public Module<T> {
public:
  Tensor<T> weight, bias;
  double eps;
  explicit LayerNorm(int64_t dim, double eps_ = 1e-5) : eps(eps_) {
    weight = this->register_parameter("weight", ones<T>({dim}));
    bias = this->register_parameter("bias", zeros<T>({dim}));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return layer_norm(x, weight, bias, eps); }
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }
};

/// Inverted dropout in training, identity in eval; draws from the generator it is given, which
/// the owner seeds, so a seed fixes the masks.
template <typename T>
class Dropout : public Module<T> {
public:
  double p;
  Dropout(double p_, std::shared_ptr<Generator> gen) : p(p_), gen_(std::move(gen)) {
    ONENIP_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p);
    ONENIP_CHECK(gen_ != nullptr, "Dropout: needs a generator");
  }
  Tensor<T> forward(const Tensor<T>& x) const {
    return this->is_training() && p > 0 ? dropout(x, p, true, *gen_) : x;
  }
  Tensor<T> operator()(const Tensor<T>& x) const { return forward(x); }

private:
  std::shared_ptr<Generator> gen_;
};

}  // namespace onenip::nn

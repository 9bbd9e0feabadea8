/// \file
/// The layers the frozen backbones are made of: conv + batch norm + activation (ConvBN),
/// squeeze-excitation (SqueezeExcite) and the inverted-residual / MBConv block built from them.
///
/// Each layer is described once (a *Desc: tensor names, sizes, stride, padding, activation), and
/// the description gives both the tensors the layer expects in a state dict (add_specs) and the
/// layer built from one. A layer runs one of two paths, chosen at load time:
///   folded (the fast path): eval-mode BN folded into the conv weight and a bias,
///     w' = w * g / sqrt(v + eps), b' = beta - mean * g / sqrt(v + eps) (computed in double);
///     image by image, 1x1 and depthwise convs run the fused ops of ops/fused_conv.hpp (bias,
///     activation, SE means and residual in the conv's own pass), and the SE gate is folded into
///     the projection's weight columns (W diag(gate) h instead of W (gate * h)).
///   unfolded (the reference): conv2d, batch_norm, relu6 / silu, global_avg_pool2d, sigmoid,
///     mul, add, exactly as the network is written. Tests check that the two agree.
/// Both assume grad mode is off (the backbones run under NoGradGuard): the in-place writes are
/// on fresh tensors that no graph has seen.
#pragma once

#include <optional>

#include "../ops/activations.hpp"
#include "../ops/conv.hpp"
#include "../ops/fused_conv.hpp"
#include "../ops/norm.hpp"
#include "../ops/pool.hpp"
#include "state_dict.hpp"

namespace onenip::models {

/// Zero padding of a convolution: TensorFlow "same" for the actual input size, or fixed when the
/// layer is built (EfficientNet's static "same" padding, computed for 380 px inputs).
struct ConvPadding {
  bool tf_same = true;
  std::array<int64_t, 4> fixed{0, 0, 0, 0};  ///< top, bottom, left, right (when !tf_same)
};

namespace detail {

// act(x) with the library's differentiable ops (the reference path; the fast path applies the
// activation inside the fused ops).
template <typename T>
Tensor<T> activate(const Tensor<T>& x, Activation act) {
  switch (act) {
    case Activation::ReLU6: return relu6(x);
    case Activation::Swish: return silu(x);
    case Activation::None: break;
  }
  return x;
}

}  // namespace detail

// ---- conv + BN + activation ----

struct ConvBNDesc {
  std::string conv, bn;  ///< tensors conv.weight and bn.{weight, bias, running_mean, running_var}
  int64_t in = 0, out = 0, kernel = 1, stride = 1;
  bool depthwise = false;  ///< groups = in = out
  Activation act = Activation::None;
  ConvPadding padding;
  double eps = 1e-5;

  ConvBNDesc() = default;
  ConvBNDesc(std::string conv_, std::string bn_, int64_t in_, int64_t out_, int64_t kernel_, int64_t stride_,
             bool depthwise_, Activation act_, ConvPadding padding_ = {}, double eps_ = 1e-5)
      : conv(std::move(conv_)), bn(std::move(bn_)), in(in_), out(out_), kernel(kernel_), stride(stride_),
        depthwise(depthwise_), act(act_), padding(padding_), eps(eps_) {}

  void add_specs(std::vector<TensorSpec>& spec, bool required) const {
    spec.push_back({conv + ".weight", {out, depthwise ? 1 : in, kernel, kernel}, required});
    for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) spec.push_back({bn + p, {out}, required});
  }
};

namespace detail {
// Moves a backbone's tensor to `device` (an undefined one stays undefined).
template <typename T>
void move_to(Tensor<T>& t, Device device) {
  if (t.defined() && t.device() != device) t = t.to(device).contiguous();
}
}  // namespace detail

template <typename T>
class ConvBN {
public:
  ConvBN() = default;
  ConvBN(const StateDict<T>& sd, const ConvBNDesc& d, bool fold) : d_(d), folded_(fold) {
    const Tensor<T>& w = state_tensor(sd, d.conv + ".weight");
    const Tensor<T>& g = state_tensor(sd, d.bn + ".weight");
    const Tensor<T>& b = state_tensor(sd, d.bn + ".bias");
    const Tensor<T>& m = state_tensor(sd, d.bn + ".running_mean");
    const Tensor<T>& v = state_tensor(sd, d.bn + ".running_var");
    if (!fold) {
      weight_ = w.detach().contiguous();
      gamma_ = g.detach().contiguous(), beta_ = b.detach().contiguous();
      mean_ = m.detach().contiguous(), var_ = v.detach().contiguous();
      return;
    }
    NoGradGuard no_grad;
    const TensorD scale = cast<double>(g) / sqrt(cast<double>(v) + d.eps);  // [out], in double
    weight_ = cast<T>(cast<double>(w) * scale.reshape({d.out, 1, 1, 1}));
    bias_ = cast<T>(cast<double>(b) - cast<double>(m) * scale);
  }

  const ConvBNDesc& desc() const { return d_; }
  bool folded() const { return folded_; }

  /// {top, bottom, left, right} zero padding for an input of H x W.
  std::array<int64_t, 4> padding_for(int64_t H, int64_t W) const {
    if (!d_.padding.tf_same) return d_.padding.fixed;
    return same_padding_tf(H, W, d_.kernel, d_.kernel, {d_.stride, d_.stride});
  }

  /// Output size for an input of H x W.
  std::array<int64_t, 2> output_size(int64_t H, int64_t W) const {
    auto p = padding_for(H, W);
    return {(H + p[0] + p[1] - d_.kernel) / d_.stride + 1, (W + p[2] + p[3] - d_.kernel) / d_.stride + 1};
  }
  /// Folded 1x1 and depthwise layers run the fused kernels (forward_image).
  bool fused() const { return folded_ && (d_.depthwise || (d_.kernel == 1 && d_.stride == 1)); }
  const Tensor<T>& weight() const { return weight_; }

  void to(Device device) {
    for (Tensor<T>* t : {&weight_, &bias_, &gamma_, &beta_, &mean_, &var_}) detail::move_to(*t, device);
  }

  /// x [N, in, H, W] -> [N, out, Ho, Wo].
  Tensor<T> forward(const Tensor<T>& x) const {
    ONENIP_CHECK(x.dim() == 4 && x.size(1) == d_.in, d_.conv, ": input must be [N, ", d_.in, ", H, W], got ",
                 shape_str(x.shape()));
    if (fused()) {
      const auto [Ho, Wo] = output_size(x.size(2), x.size(3));
      Tensor<T> xc = x.contiguous(), y = Tensor<T>::empty({x.size(0), d_.out, Ho, Wo}, x.device());
      for (int64_t n = 0; n < x.size(0); ++n) forward_image(xc.select(0, n), y.select(0, n));
      return y;
    }
    Conv2dOptions o;
    o.stride = {d_.stride, d_.stride};
    o.groups = d_.depthwise ? d_.in : 1;
    o.padding = padding_for(x.size(2), x.size(3));
    if (folded_) {
      Tensor<T> y = conv2d(x, weight_, bias_, o);
      fused_activation_(y, d_.act);
      return y;
    }
    Tensor<T> y = batch_norm(conv2d(x, weight_, Tensor<T>(), o), mean_, var_, gamma_, beta_, false, 0.1, d_.eps);
    return detail::activate(y, d_.act);
  }

  /// One image x [in, H, W] -> out [out, Ho, Wo] (contiguous) through the fused ops (fused()
  /// layers). Depthwise: `means` (if given) receives each output plane's mean. 1x1: `residual`
  /// [out, H, W] is added after the activation, and `weight` [out, in] (if given) replaces the
  /// folded weight.
  void forward_image(const Tensor<T>& x, const Tensor<T>& out, const Tensor<T>& residual = {},
                     const Tensor<T>& means = {}, const Tensor<T>& weight = {}) const {
    if (d_.depthwise)
      fused_depthwise_conv_(out, x, weight_, bias_, d_.stride, padding_for(x.size(1), x.size(2)), d_.act, means);
    else
      fused_pointwise_conv_(out, x, weight.defined() ? weight : weight_, bias_, d_.act, residual);
  }

private:
  ConvBNDesc d_;
  bool folded_ = true;
  Tensor<T> weight_, bias_;                ///< bias_: the folded BN shift (folded only)
  Tensor<T> gamma_, beta_, mean_, var_;    ///< unfolded only
};

// ---- squeeze-excitation: x * sigmoid(W2 swish(W1 mean_hw(x) + b1) + b2) ----

struct SqueezeExciteDesc {
  std::string reduce, expand;  ///< 1x1 convs with bias: reduce [squeezed, channels], expand back
  int64_t channels = 0, squeezed = 0;

  void add_specs(std::vector<TensorSpec>& spec, bool required) const {
    spec.push_back({reduce + ".weight", {squeezed, channels, 1, 1}, required});
    spec.push_back({reduce + ".bias", {squeezed}, required});
    spec.push_back({expand + ".weight", {channels, squeezed, 1, 1}, required});
    spec.push_back({expand + ".bias", {channels}, required});
  }
};

template <typename T>
class SqueezeExcite {
public:
  SqueezeExcite() = default;
  SqueezeExcite(const StateDict<T>& sd, const SqueezeExciteDesc& d)
      : d_(d),
        w1_(state_tensor(sd, d.reduce + ".weight").contiguous()),
        b1_(state_tensor(sd, d.reduce + ".bias").contiguous()),
        w2_(state_tensor(sd, d.expand + ".weight").contiguous()),
        b2_(state_tensor(sd, d.expand + ".bias").contiguous()) {}

  /// The reference: x [N, C, H, W] -> x * gate [N, C, 1, 1].
  Tensor<T> forward(const Tensor<T>& x) const {
    Tensor<T> s = silu(conv2d(global_avg_pool2d(x), w1_, b1_));
    return mul(x, sigmoid(conv2d(s, w2_, b2_)));
  }

  /// The fast path, one image: gate [C] from the channel means [C].
  void gate(const Tensor<T>& means, const Tensor<T>& gate) const { fused_squeeze_excite_gate_(gate, means, w1_, b1_, w2_, b2_); }

  void to(Device device) {
    for (Tensor<T>* t : {&w1_, &b1_, &w2_, &b2_}) detail::move_to(*t, device);
  }

private:
  SqueezeExciteDesc d_;
  Tensor<T> w1_, b1_, w2_, b2_;
};

// ---- inverted residual (MobileNetV2) / MBConv (EfficientNet) ----
// [1x1 expand + BN + act] -> depthwise kxk + BN + act -> [SE] -> 1x1 project + BN -> [+ input].

struct InvertedResidualDesc {
  std::optional<ConvBNDesc> expand;
  ConvBNDesc depthwise;
  std::optional<SqueezeExciteDesc> se;
  ConvBNDesc project;
  bool residual = false;

  void add_specs(std::vector<TensorSpec>& spec, bool required) const {
    // In the order the networks' state dicts list them.
    if (expand) expand->add_specs(spec, required);
    depthwise.add_specs(spec, required);
    if (se) se->add_specs(spec, required);
    project.add_specs(spec, required);
  }
};

template <typename T>
class InvertedResidual {
public:
  InvertedResidual(const StateDict<T>& sd, const InvertedResidualDesc& d, bool fold)
      : depthwise_(sd, d.depthwise, fold), project_(sd, d.project, fold), residual_(d.residual), fast_(fold) {
    if (d.expand) expand_.emplace(sd, *d.expand, fold);
    if (d.se) se_.emplace(sd, *d.se);
  }

  const ConvBN<T>& depthwise() const { return depthwise_; }

  void to(Device device) {
    if (expand_) expand_->to(device);
    depthwise_.to(device);
    if (se_) se_->to(device);
    project_.to(device);
  }

  /// x [N, in, H, W] -> [N, out, Ho, Wo].
  Tensor<T> forward(const Tensor<T>& x) const {
    if (fast_) return forward_fused(x);
    Tensor<T> h = depthwise_.forward(expand_ ? expand_->forward(x) : x);
    if (se_) h = se_->forward(h);
    Tensor<T> y = project_.forward(h);
    return residual_ ? add(y, x) : y;
  }

private:
  /// Image by image through the fused kernels: expand (+ act) -> depthwise (+ act, + channel
  /// means) -> SE gate folded into the projection's columns -> project (+ residual).
  Tensor<T> forward_fused(const Tensor<T>& x_in) const {
    const ConvBNDesc& dd = depthwise_.desc();
    const int64_t C = expand_ ? expand_->desc().in : dd.in, mid = dd.in, O = project_.desc().out;
    ONENIP_CHECK(x_in.dim() == 4 && x_in.size(1) == C, dd.conv, ": block input must be [N, ", C, ", H, W], got ",
                 shape_str(x_in.shape()));
    const Tensor<T> x = x_in.contiguous();
    const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
    const auto [Ho, Wo] = depthwise_.output_size(H, W);
    const Device device = x.device();
    // Buffers reused image after image (allocated like tensors: 64-byte aligned, so Eigen's
    // reductions sum in the same order on every call).
    Tensor<T> out = Tensor<T>::empty({N, O, Ho, Wo}, device);
    Tensor<T> expanded = expand_ ? Tensor<T>::empty({mid, H, W}, device) : Tensor<T>();
    Tensor<T> dw = Tensor<T>::empty({mid, Ho, Wo}, device);
    Tensor<T> scaled = se_ ? Tensor<T>::empty({O, mid}, device) : Tensor<T>();
    Tensor<T> means = se_ ? Tensor<T>::empty({mid}, device) : Tensor<T>(), gate = means.defined() ? Tensor<T>::empty({mid}, device) : Tensor<T>();
    for (int64_t n = 0; n < N; ++n) {
      const Tensor<T> xn = x.select(0, n);
      Tensor<T> h = xn;
      if (expand_) expand_->forward_image(xn, expanded), h = expanded;
      depthwise_.forward_image(h, dw, Tensor<T>(), means);
      Tensor<T> wp = project_.weight();
      if (se_) {
        se_->gate(means, gate);
        fused_scale_columns_(scaled, wp, gate);
        wp = scaled;
      }
      project_.forward_image(dw, out.select(0, n), residual_ ? xn : Tensor<T>(), Tensor<T>(), wp);
    }
    return out;
  }

  std::optional<ConvBN<T>> expand_;
  ConvBN<T> depthwise_;
  std::optional<SqueezeExcite<T>> se_;
  ConvBN<T> project_;
  bool residual_ = false, fast_ = true;
};

}  // namespace onenip::models

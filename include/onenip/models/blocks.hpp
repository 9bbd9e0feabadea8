// The layers the frozen backbones are made of: conv + batch norm + activation (ConvBN),
// squeeze-excitation (SqueezeExcite) and the inverted-residual / MBConv block built from them.
//
// Each layer is described once (a *Desc: tensor names, sizes, stride, padding, activation), and
// the description gives both the tensors the layer expects in a state dict (add_specs) and the
// layer built from one. A layer runs one of two paths, chosen at load time:
//   folded (the fast path): eval-mode BN folded into the conv weight and a bias,
//     w' = w * g / sqrt(v + eps), b' = beta - mean * g / sqrt(v + eps) (computed in double);
//     image by image, 1x1 and depthwise convs run the fused kernels of fused_kernels.hpp (bias,
//     activation, SE means and residual in the conv's own pass), and the SE gate is folded into
//     the projection's weight columns (W diag(gate) h instead of W (gate * h)).
//   unfolded (the reference): conv2d, batch_norm, relu6 / silu, global_avg_pool2d, sigmoid,
//     mul, add, exactly as the network is written. Tests check that the two agree.
// Both assume grad mode is off (the backbones run under NoGradGuard): the in-place writes are
// on fresh tensors that no graph has seen.
#pragma once

#include <optional>

#include "../ops/activations.hpp"
#include "../ops/conv.hpp"
#include "../ops/norm.hpp"
#include "../ops/pool.hpp"
#include "fused_kernels.hpp"
#include "state_dict.hpp"

namespace onenip::models {

// Zero padding of a convolution: TensorFlow "same" for the actual input size, or fixed when the
// layer is built (EfficientNet's static "same" padding, computed for 380 px inputs).
struct ConvPadding {
  bool tf_same = true;
  std::array<int64_t, 4> fixed{0, 0, 0, 0};  // top, bottom, left, right (when !tf_same)
};

namespace detail {

// act(x) with the library's differentiable ops (the reference path; the fast path applies
// activate_array inside the fused kernels).
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
  std::string conv, bn;  // tensors conv.weight and bn.{weight, bias, running_mean, running_var}
  int64_t in = 0, out = 0, kernel = 1, stride = 1;
  bool depthwise = false;  // groups = in = out
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
    const int64_t O = d.out, per = w.numel() / O;
    Tensor<T> wc = w.contiguous(), gc = g.contiguous(), bc = b.contiguous(), mc = m.contiguous(), vc = v.contiguous();
    weight_ = Tensor<T>::empty(w.shape());
    bias_ = Tensor<T>::empty({O});
    for (int64_t o = 0; o < O; ++o) {
      const double scale = double(gc.data()[o]) / std::sqrt(double(vc.data()[o]) + d.eps);
      for (int64_t i = 0; i < per; ++i) weight_.data()[o * per + i] = T(double(wc.data()[o * per + i]) * scale);
      bias_.data()[o] = T(double(bc.data()[o]) - double(mc.data()[o]) * scale);
    }
  }

  const ConvBNDesc& desc() const { return d_; }
  bool folded() const { return folded_; }

  // {top, bottom, left, right} zero padding for an input of H x W.
  std::array<int64_t, 4> padding_for(int64_t H, int64_t W) const {
    if (!d_.padding.tf_same) return d_.padding.fixed;
    return same_padding_tf(H, W, d_.kernel, d_.kernel, {d_.stride, d_.stride});
  }

  // Output size for an input of H x W.
  std::array<int64_t, 2> output_size(int64_t H, int64_t W) const {
    auto p = padding_for(H, W);
    return {(H + p[0] + p[1] - d_.kernel) / d_.stride + 1, (W + p[2] + p[3] - d_.kernel) / d_.stride + 1};
  }
  // Folded 1x1 and depthwise layers run the fused kernels (forward_image).
  bool fused() const { return folded_ && (d_.depthwise || (d_.kernel == 1 && d_.stride == 1)); }
  const Tensor<T>& weight() const { return weight_; }

  // x [N, in, H, W] -> [N, out, Ho, Wo].
  Tensor<T> forward(const Tensor<T>& x) const {
    ONENIP_CHECK(x.dim() == 4 && x.size(1) == d_.in, d_.conv, ": input must be [N, ", d_.in, ", H, W], got ",
                 shape_str(x.shape()));
    if (fused()) {
      const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
      const auto [Ho, Wo] = output_size(H, W);
      Tensor<T> xc = x.contiguous(), y = Tensor<T>::empty({N, d_.out, Ho, Wo});
      for (int64_t n = 0; n < N; ++n) forward_image(xc.data() + n * d_.in * H * W, H, W, y.data() + n * d_.out * Ho * Wo);
      return y;
    }
    Conv2dOptions o;
    o.stride = {d_.stride, d_.stride};
    o.groups = d_.depthwise ? d_.in : 1;
    o.padding = padding_for(x.size(2), x.size(3));
    if (folded_) {
      Tensor<T> y = conv2d(x, weight_, bias_, o);
      detail::activate_inplace(y, d_.act);
      return y;
    }
    Tensor<T> y = batch_norm(conv2d(x, weight_, Tensor<T>(), o), mean_, var_, gamma_, beta_, false, 0.1, d_.eps);
    return detail::activate(y, d_.act);
  }

  // One image x [in, H, W] -> out [out, Ho, Wo] through the fused kernels (fused() layers).
  // Depthwise: `means` (if given) receives each output plane's mean. 1x1: `residual` [out, H, W]
  // is added after the activation, and `weight` [out, in] (if given) replaces the folded weight.
  void forward_image(const T* x, int64_t H, int64_t W, T* out, const T* residual = nullptr, T* means = nullptr,
                     const T* weight = nullptr) const {
    if (d_.depthwise)
      detail::depthwise_fused(x, weight_.data(), bias_.data(), out, means, d_.in, H, W, d_.kernel, d_.stride,
                              padding_for(H, W), d_.act);
    else
      detail::pointwise_fused(x, weight ? weight : weight_.data(), bias_.data(), residual, out, d_.in, d_.out, H * W,
                              d_.act);
  }

private:
  ConvBNDesc d_;
  bool folded_ = true;
  Tensor<T> weight_, bias_;                // bias_: the folded BN shift (folded only)
  Tensor<T> gamma_, beta_, mean_, var_;    // unfolded only
};

// ---- squeeze-excitation: x * sigmoid(W2 swish(W1 mean_hw(x) + b1) + b2) ----

struct SqueezeExciteDesc {
  std::string reduce, expand;  // 1x1 convs with bias: reduce [squeezed, channels], expand back
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

  // The reference: x [N, C, H, W] -> x * gate [N, C, 1, 1].
  Tensor<T> forward(const Tensor<T>& x) const {
    Tensor<T> s = silu(conv2d(global_avg_pool2d(x), w1_, b1_));
    return mul(x, sigmoid(conv2d(s, w2_, b2_)));
  }

  // The fast path, one image: gate [C] from the channel means [C].
  void gate(const T* means, T* gate) const {
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    const int64_t C = d_.channels, S = d_.squeezed;
    Vec h = Eigen::Map<const Mat>(w1_.data(), S, C) * Eigen::Map<const Vec>(means, C) + Eigen::Map<const Vec>(b1_.data(), S);
    h.array() = h.array() / (T(1) + (-h.array()).exp());
    Eigen::Map<Vec> g(gate, C);
    g = Eigen::Map<const Mat>(w2_.data(), C, S) * h + Eigen::Map<const Vec>(b2_.data(), C);
    g.array() = T(1) / (T(1) + (-g.array()).exp());
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

  // x [N, in, H, W] -> [N, out, Ho, Wo].
  Tensor<T> forward(const Tensor<T>& x) const {
    if (fast_) return forward_fused(x);
    Tensor<T> h = depthwise_.forward(expand_ ? expand_->forward(x) : x);
    if (se_) h = se_->forward(h);
    Tensor<T> y = project_.forward(h);
    return residual_ ? add(y, x) : y;
  }

private:
  // Image by image through the fused kernels: expand (+ act) -> depthwise (+ act, + channel
  // means) -> SE gate folded into the projection's columns -> project (+ residual).
  Tensor<T> forward_fused(const Tensor<T>& x_in) const {
    const ConvBNDesc& dd = depthwise_.desc();
    const int64_t C = expand_ ? expand_->desc().in : dd.in, mid = dd.in, O = project_.desc().out;
    ONENIP_CHECK(x_in.dim() == 4 && x_in.size(1) == C, dd.conv, ": block input must be [N, ", C, ", H, W], got ",
                 shape_str(x_in.shape()));
    const Tensor<T> x = x_in.contiguous();
    const int64_t N = x.size(0), H = x.size(2), W = x.size(3);
    const auto [Ho, Wo] = depthwise_.output_size(H, W);
    Tensor<T> out = Tensor<T>::empty({N, O, Ho, Wo});
    Tensor<T> expanded = expand_ ? Tensor<T>::empty({mid, H * W}) : Tensor<T>();
    Tensor<T> dw = Tensor<T>::empty({mid, Ho * Wo});
    Tensor<T> scaled = se_ ? Tensor<T>::empty({O, mid}) : Tensor<T>();
    // Aligned buffers: Eigen's reductions peel to alignment, so a std::vector's varying
    // alignment would change the summation order from call to call.
    Tensor<T> means = Tensor<T>::empty({se_ ? mid : 0}), gate = Tensor<T>::empty({se_ ? mid : 0});
    for (int64_t n = 0; n < N; ++n) {
      const T* xn = x.data() + n * C * H * W;
      const T* h = xn;
      if (expand_) expand_->forward_image(xn, H, W, expanded.data()), h = expanded.data();
      depthwise_.forward_image(h, H, W, dw.data(), nullptr, se_ ? means.data() : nullptr);
      const T* wp = project_.weight().data();
      if (se_) {
        se_->gate(means.data(), gate.data());
        using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
        Eigen::Map<Mat>(scaled.data(), O, mid) =
            Eigen::Map<const Mat>(wp, O, mid) * Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(gate.data(), mid).asDiagonal();
        wp = scaled.data();
      }
      project_.forward_image(dw.data(), Ho, Wo, out.data() + n * O * Ho * Wo, residual_ ? xn : nullptr, nullptr, wp);
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

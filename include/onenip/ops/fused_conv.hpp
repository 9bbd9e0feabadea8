/// \file
/// Inference-only fused convolutions for the folded backbones (kernels/fused_conv.hpp), on one
/// image at a time and writing into outputs the caller owns, so a block can run image by image
/// through cache-sized buffers it reuses. No autograd: call them under NoGradGuard on tensors no
/// graph has seen. Every tensor must be contiguous.
#pragma once

#include "../kernels/fused_conv.hpp"
#include "conv.hpp"

namespace onenip {

using kernels::Activation;

namespace detail {
template <typename T>
void check_fused_contiguous(const char* op, const char* name, const Tensor<T>& t) {
  ONENIP_CHECK(!t.defined() || t.is_contiguous(), op, ": ", name, " of shape ", shape_str(t.shape()),
               " must be contiguous");
}
}  // namespace detail

/// y = act(y) in place.
template <typename T>
void fused_activation_(const Tensor<T>& y, Activation act) {
  detail::check_fused_contiguous("fused_activation_", "y", y);
  kernels::activation_inplace<T>({y.device(), act, y.data_ptr(), y.numel()});
  y.bump_version();
}

/// One image: y [O, H, W] = act(w [O, C] x [C, H, W] + bias [O]) (+ residual [O, H, W] after the
/// activation). w may also be given as [O, C, 1, 1].
template <typename T>
void fused_pointwise_conv_(const Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias, Activation act,
                     const Tensor<T>& residual = {}) {
  const char* op = "fused_pointwise_conv_";
  const Device device = kernels::common_device<T>(op, {&y, &x, &w, &bias, &residual});
  const int64_t O = w.size(0), C = w.numel() / std::max<int64_t>(O, 1), P = x.numel() / std::max<int64_t>(C, 1);
  ONENIP_CHECK(x.dim() >= 1 && x.size(0) == C && y.numel() == O * P && bias.numel() == O &&
                   (!residual.defined() || residual.numel() == O * P),
               op, ": shapes do not agree: y ", shape_str(y.shape()), ", x ", shape_str(x.shape()), ", w ",
               shape_str(w.shape()), ", bias ", shape_str(bias.shape()));
  for (auto [name, t] : {std::pair{"y", &y}, {"x", &x}, {"w", &w}, {"bias", &bias}, {"residual", &residual}})
    detail::check_fused_contiguous(op, name, *t);
  kernels::pointwise_conv_fused<T>(
      {device, C, O, P, act, x.data_ptr(), w.data_ptr(), bias.data_ptr(), residual.defined() ? residual.data_ptr() : nullptr, y.data_ptr()});
  y.bump_version();
}

/// One image: y [C, Ho, Wo] = act(depthwise conv of x [C, H, W] with w [C, 1, k, k] at `stride`
/// and zero padding {top, bottom, left, right}, + bias [C]); means [C] (if given) = the mean of
/// each output plane.
template <typename T>
void fused_depthwise_conv_(const Tensor<T>& y, const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& bias,
                     int64_t stride, std::array<int64_t, 4> padding, Activation act, const Tensor<T>& means = {}) {
  const char* op = "fused_depthwise_conv_";
  const Device device = kernels::common_device<T>(op, {&y, &x, &w, &bias, &means});
  ONENIP_CHECK(x.dim() == 3, op, ": x must be one image [C, H, W], got ", shape_str(x.shape()));
  const int64_t C = x.size(0);
  const kernels::ConvGeom g = onenip::detail::conv_geometry(op, {1, C, x.size(1), x.size(2)}, w.shape(),
                                                             {stride, stride}, padding, {1, 1}, C);
  ONENIP_CHECK(y.numel() == C * g.P() && bias.numel() == C && (!means.defined() || means.numel() == C), op,
               ": y ", shape_str(y.shape()), ", bias ", shape_str(bias.shape()), " do not fit ", C, " channels of ",
               g.Ho, "x", g.Wo);
  for (auto [name, t] : {std::pair{"y", &y}, {"x", &x}, {"w", &w}, {"bias", &bias}, {"means", &means}})
    detail::check_fused_contiguous(op, name, *t);
  kernels::depthwise_conv_fused<T>({device, g, act, x.data_ptr(), w.data_ptr(), bias.data_ptr(), y.data_ptr(),
                                    means.defined() ? means.data_ptr() : nullptr});
  y.bump_version();
}

/// gate [C] = sigmoid(w2 [C, S(, 1, 1)] swish(w1 [S, C(, 1, 1)] means [C] + b1 [S]) + b2 [C]).
template <typename T>
void fused_squeeze_excite_gate_(const Tensor<T>& gate, const Tensor<T>& means, const Tensor<T>& w1, const Tensor<T>& b1,
                          const Tensor<T>& w2, const Tensor<T>& b2) {
  const char* op = "fused_squeeze_excite_gate_";
  const Device device = kernels::common_device<T>(op, {&gate, &means, &w1, &b1, &w2, &b2});
  const int64_t C = means.numel(), S = b1.numel();
  ONENIP_CHECK(gate.numel() == C && w1.numel() == S * C && w2.numel() == C * S && b2.numel() == C, op,
               ": shapes do not agree: means ", shape_str(means.shape()), ", w1 ", shape_str(w1.shape()), ", b1 ",
               shape_str(b1.shape()), ", w2 ", shape_str(w2.shape()), ", b2 ", shape_str(b2.shape()));
  for (auto [name, t] : {std::pair{"gate", &gate}, {"means", &means}, {"w1", &w1}, {"b1", &b1}, {"w2", &w2}, {"b2", &b2}})
    detail::check_fused_contiguous(op, name, *t);
  kernels::squeeze_excite_gate<T>({device, C, S, means.data_ptr(), w1.data_ptr(), b1.data_ptr(), w2.data_ptr(),
                                   b2.data_ptr(), gate.data_ptr()});
  gate.bump_version();
}

/// out [rows, cols] = w [rows, cols(, 1, 1)] diag(scale [cols]).
template <typename T>
void fused_scale_columns_(const Tensor<T>& out, const Tensor<T>& w, const Tensor<T>& scale) {
  const char* op = "fused_scale_columns_";
  const Device device = kernels::common_device<T>(op, {&out, &w, &scale});
  const int64_t cols = scale.numel(), rows = w.numel() / std::max<int64_t>(cols, 1);
  ONENIP_CHECK(w.size(0) == rows && out.numel() == rows * cols, op, ": w ", shape_str(w.shape()), " and out ",
               shape_str(out.shape()), " do not have ", cols, " columns");
  for (auto [name, t] : {std::pair{"out", &out}, {"w", &w}, {"scale", &scale}}) detail::check_fused_contiguous(op, name, *t);
  kernels::scale_columns<T>({device, rows, cols, w.data_ptr(), scale.data_ptr(), out.data_ptr()});
  out.bump_version();
}

}  // namespace onenip

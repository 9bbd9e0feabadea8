/// \file
/// conv2d and conv_transpose2d with PyTorch's semantics (NCHW, weight [O, C/groups, kh, kw]),
/// and TensorFlow's "same" padding.
///
/// The three passes (forward, input gradient, weight gradient) are kernels (kernels/conv.hpp).
/// conv_transpose2d is the adjoint of conv2d: its forward is conv2d's input gradient and its input
/// gradient is conv2d's forward, so both ops share the same three passes. Backward keeps only the
/// input and weight (no columns).
#pragma once

#include <array>

#include "../autograd.hpp"
#include "../kernels/conv.hpp"
#include "views.hpp"

namespace onenip {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 4> padding{0, 0, 0, 0};  ///< top, bottom, left, right (zero padding)
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

struct ConvTranspose2dOptions {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, output_padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

/// TensorFlow "same": total = max((ceil(in/s)-1)*s + (k-1)*d + 1 - in, 0) per axis, the smaller
/// half on top/left. Returns {top, bottom, left, right}.
inline std::array<int64_t, 4> same_padding_tf(int64_t H, int64_t W, int64_t kh, int64_t kw,
                                              std::array<int64_t, 2> stride, std::array<int64_t, 2> dilation = {1, 1}) {
  ONENIP_CHECK(H > 0 && W > 0 && kh > 0 && kw > 0 && stride[0] > 0 && stride[1] > 0 && dilation[0] > 0 &&
                   dilation[1] > 0,
               "same_padding_tf: sizes, kernel, stride and dilation must be positive, got input ", H, "x", W,
               ", kernel ", kh, "x", kw, ", stride ", stride[0], "x", stride[1], ", dilation ", dilation[0], "x",
               dilation[1]);
  auto total = [](int64_t in, int64_t k, int64_t s, int64_t d) {
    int64_t out = (in + s - 1) / s;
    return std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  };
  int64_t th = total(H, kh, stride[0], dilation[0]), tw = total(W, kw, stride[1], dilation[1]);
  return {th / 2, th - th / 2, tw / 2, tw - tw / 2};
}

namespace detail {

using kernels::ConvGeom;

// Validated geometry of conv2d(x [N, C, H, W], weight [O, C/groups, kh, kw]). `op` names the
// public op in messages.
inline ConvGeom conv_geometry(const char* op, const Shape& xs, const Shape& ws, std::array<int64_t, 2> stride,
                              std::array<int64_t, 4> pad, std::array<int64_t, 2> dil, int64_t groups) {
  ONENIP_CHECK(xs.size() == 4, op, ": input must be 4-D [N, C, H, W], got shape ", shape_str(xs));
  ONENIP_CHECK(ws.size() == 4, op, ": weight must be 4-D, got shape ", shape_str(ws));
  ONENIP_CHECK(groups >= 1, op, ": groups must be >= 1, got ", groups);
  ONENIP_CHECK(stride[0] >= 1 && stride[1] >= 1, op, ": stride must be >= 1, got (", stride[0], ", ", stride[1], ")");
  ONENIP_CHECK(dil[0] >= 1 && dil[1] >= 1, op, ": dilation must be >= 1, got (", dil[0], ", ", dil[1], ")");
  ONENIP_CHECK(pad[0] >= 0 && pad[1] >= 0 && pad[2] >= 0 && pad[3] >= 0, op, ": padding must be >= 0, got (", pad[0],
               ", ", pad[1], ", ", pad[2], ", ", pad[3], ")");
  ConvGeom g;
  g.N = xs[0], g.C = xs[1], g.H = xs[2], g.W = xs[3];
  g.O = ws[0], g.kh = ws[2], g.kw = ws[3];
  g.sh = stride[0], g.sw = stride[1], g.pt = pad[0], g.pb = pad[1], g.pl = pad[2], g.pr = pad[3];
  g.dh = dil[0], g.dw = dil[1], g.groups = groups;
  ONENIP_CHECK(g.kh >= 1 && g.kw >= 1, op, ": weight ", shape_str(ws), " has an empty kernel");
  ONENIP_CHECK(g.C % groups == 0, op, ": input channels ", g.C, " (input ", shape_str(xs),
               ") are not divisible by groups = ", groups);
  ONENIP_CHECK(g.O % groups == 0, op, ": output channels ", g.O, " (weight ", shape_str(ws),
               ") are not divisible by groups = ", groups);
  ONENIP_CHECK(ws[1] == g.C / groups, op, ": weight ", shape_str(ws), " expects ", ws[1],
               " input channels per group, but input ", shape_str(xs), " with groups = ", groups, " has ",
               g.C / groups);
  int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  ONENIP_CHECK(g.H + g.pt + g.pb >= eh && g.W + g.pl + g.pr >= ew, op, ": kernel ", eh, "x", ew,
               " (with dilation) is larger than the padded input ", g.H + g.pt + g.pb, "x", g.W + g.pl + g.pr,
               " (input ", shape_str(xs), ", weight ", shape_str(ws), ")");
  g.finish();
  return g;
}

inline void check_bias(const char* op, const Shape& bs, int64_t channels) {
  ONENIP_CHECK(bs.size() == 1 && bs[0] == channels, op, ": bias must have shape [", channels, "], got ",
               shape_str(bs));
}

// The three passes of conv2d on contiguous tensors; each allocates and returns what it writes.
enum class ConvPass { Forward, GradInput, GradWeight };

// Forward: a = x, b = weight -> out. GradInput: a = grad of out, b = weight -> grad of x (+ bias
// per channel). GradWeight: a = x, b = grad of out -> grad of weight.
template <typename T>
Tensor<T> conv_pass(ConvPass pass, const ConvGeom& g, const Tensor<T>& a, const Tensor<T>& b, const T* bias = nullptr) {
  kernels::ConvProblem<T> p;
  p.device = kernels::common_device<T>("conv2d", {&a, &b});
  p.geom = g, p.bias = bias;
  switch (pass) {
    case ConvPass::Forward: {
      Tensor<T> out = Tensor<T>::empty({g.N, g.O, g.Ho, g.Wo}, p.device);
      p.x = a.data_ptr(), p.w = b.data_ptr(), p.y = out.data_ptr();
      kernels::conv2d(p);
      return out;
    }
    case ConvPass::GradInput: {
      Tensor<T> gx = Tensor<T>::empty({g.N, g.C, g.H, g.W}, p.device);
      p.y = a.data_ptr(), p.w = b.data_ptr(), p.x = gx.data_ptr();
      kernels::conv2d_grad_input(p);
      return gx;
    }
    case ConvPass::GradWeight: {
      Tensor<T> gw = Tensor<T>::empty({g.O, g.Cg(), g.kh, g.kw}, p.device);
      p.x = a.data_ptr(), p.y = b.data_ptr(), p.w = gw.data_ptr();
      kernels::conv2d_grad_weight(p);
      return gw;
    }
  }
  return Tensor<T>();
}

// Sum of g [N, C, H, W] over everything but C: the bias gradient.
template <typename T>
Tensor<T> bias_grad(const Tensor<T>& g) {
  Tensor<T> gc = g.contiguous();
  Tensor<T> gb = Tensor<T>::empty({g.size(1)}, g.device());
  kernels::channel_sum<T>({g.device(), g.size(0), g.size(1), g.size(2) * g.size(3), gc.data_ptr(), gb.data_ptr()});
  return gb;
}

}  // namespace detail

/// x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or an undefined Tensor -> [N, O, Ho, Wo].
/// Non-contiguous inputs are copied to contiguous buffers first (the kernels index NCHW directly).
template <typename T>
Tensor<T> conv2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, const Conv2dOptions& opt = {}) {
  ONENIP_CHECK(x.defined() && weight.defined(), "conv2d: input and weight must be defined tensors");
  const detail::ConvGeom g =
      detail::conv_geometry("conv2d", x.shape(), weight.shape(), opt.stride, opt.padding, opt.dilation, opt.groups);
  if (bias.defined()) detail::check_bias("conv2d", bias.shape(), g.O);
  Tensor<T> xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor<T> bc = bias.defined() ? bias.detach().contiguous() : Tensor<T>();
  Tensor<T> out = detail::conv_pass(detail::ConvPass::Forward, g, xc, wc, bc.defined() ? bc.data_ptr() : nullptr);

  const bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(gw ? xc : Tensor<T>(), "Conv2d"), sw(gx ? wc : Tensor<T>(), "Conv2d");
  return record<T>(out, "Conv2d", {x, weight, bias}, [g, sx, sw, gx, gw, gb](const Tensor<T>& grad) {
    Tensor<T> go = grad.contiguous(), dx, dw, db;
    if (gx) dx = detail::conv_pass(detail::ConvPass::GradInput, g, go, sw.get());
    if (gw) dw = detail::conv_pass(detail::ConvPass::GradWeight, g, sx.get(), go);
    if (gb) db = detail::bias_grad(go);
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

/// x [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw] (PyTorch's layout), bias [Cout] or
/// undefined -> [N, Cout, Hout, Wout] with Hout = (H-1)*stride - 2*padding + dilation*(kh-1) +
/// output_padding + 1. It is the input gradient of conv2d(y [N, Cout, Hout, Wout], weight), which
/// maps back to x's shape; the weight layouts coincide ([O = Cin, C/groups = Cout/groups, kh, kw]).
/// Non-contiguous inputs are copied to contiguous buffers first, as in conv2d.
template <typename T>
Tensor<T> conv_transpose2d(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias,
                           const ConvTranspose2dOptions& opt = {}) {
  const char* op = "conv_transpose2d";
  ONENIP_CHECK(x.defined() && weight.defined(), op, ": input and weight must be defined tensors");
  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  ONENIP_CHECK(xs.size() == 4, op, ": input must be 4-D [N, Cin, H, W], got shape ", shape_str(xs));
  ONENIP_CHECK(ws.size() == 4, op, ": weight must be 4-D [Cin, Cout/groups, kh, kw], got shape ", shape_str(ws));
  ONENIP_CHECK(ws[0] == xs[1], op, ": weight ", shape_str(ws), " expects ", ws[0], " input channels, input ",
               shape_str(xs), " has ", xs[1]);
  ONENIP_CHECK(opt.groups >= 1, op, ": groups must be >= 1, got ", opt.groups);
  for (int i = 0; i < 2; ++i) {
    ONENIP_CHECK(opt.stride[i] >= 1 && opt.dilation[i] >= 1 && opt.padding[i] >= 0 && opt.output_padding[i] >= 0, op,
                 ": stride and dilation must be >= 1 and padding, output_padding >= 0 (axis ", i, ": stride ",
                 opt.stride[i], ", dilation ", opt.dilation[i], ", padding ", opt.padding[i], ", output_padding ",
                 opt.output_padding[i], ")");
    ONENIP_CHECK(opt.output_padding[i] < opt.stride[i] || opt.output_padding[i] < opt.dilation[i], op,
                 ": output_padding ", opt.output_padding[i], " must be smaller than stride ", opt.stride[i],
                 " or dilation ", opt.dilation[i]);
  }
  const int64_t cout = ws[1] * opt.groups;
  const int64_t hout = (xs[2] - 1) * opt.stride[0] - 2 * opt.padding[0] + opt.dilation[0] * (ws[2] - 1) +
                       opt.output_padding[0] + 1;
  const int64_t wout = (xs[3] - 1) * opt.stride[1] - 2 * opt.padding[1] + opt.dilation[1] * (ws[3] - 1) +
                       opt.output_padding[1] + 1;
  ONENIP_CHECK(hout >= 1 && wout >= 1, op, ": output size ", hout, "x", wout, " is empty for input ", shape_str(xs),
               ", weight ", shape_str(ws), " and padding (", opt.padding[0], ", ", opt.padding[1], ")");
  ONENIP_CHECK(xs[1] % opt.groups == 0, op, ": input channels ", xs[1], " (input ", shape_str(xs),
               ") are not divisible by groups = ", opt.groups);
  // The conv2d this op is the adjoint of: input [N, Cout, hout, wout] -> output [N, Cin, H, W].
  detail::ConvGeom g = detail::conv_geometry(
      op, {xs[0], cout, hout, wout}, ws, opt.stride,
      {opt.padding[0], opt.padding[0], opt.padding[1], opt.padding[1]}, opt.dilation, opt.groups);
  // output_padding >= stride (allowed when it is < dilation) makes that conv2d's output longer
  // than x: its extra rows and columns are dropped, so x maps to the leading ones only.
  ONENIP_CHECK(g.Ho >= xs[2] && g.Wo >= xs[3], op, ": internal size mismatch for input ", shape_str(xs));
  g.Ho = xs[2];
  g.Wo = xs[3];
  if (bias.defined()) detail::check_bias(op, bias.shape(), cout);
  Tensor<T> xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor<T> bc = bias.defined() ? bias.detach().contiguous() : Tensor<T>();
  Tensor<T> out = detail::conv_pass(detail::ConvPass::GradInput, g, xc, wc, bc.defined() ? bc.data_ptr() : nullptr);

  const bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(gw ? xc : Tensor<T>(), "ConvTranspose2d"), sw(gx ? wc : Tensor<T>(), "ConvTranspose2d");
  return record<T>(out, "ConvTranspose2d", {x, weight, bias}, [g, sx, sw, gx, gw, gb](const Tensor<T>& grad) {
    Tensor<T> go = grad.contiguous(), dx, dw, db;
    if (gx) dx = detail::conv_pass(detail::ConvPass::Forward, g, go, sw.get());
    if (gw) dw = detail::conv_pass(detail::ConvPass::GradWeight, g, go, sx.get());
    if (gb) db = detail::bias_grad(go);
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

}  // namespace onenip

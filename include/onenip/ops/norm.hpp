/// \file
/// Normalisation layers on the kernels of kernels/norm.hpp, with hand-written backward.
///   layer_norm: over the last dim, one pass per row; saves x, and the row mean and 1/std.
///   rms_norm: over the last dim, scaled by the root mean square only; saves x and 1/rms.
///   batch_norm: per channel of x [N, C, *]; batch statistics when training (running stats
///     updated in the forward only, PyTorch's momentum rule and unbiased variance), running
///     statistics in eval.
#pragma once

#include "../kernels/norm.hpp"
#include "elementwise.hpp"

namespace onenip {

namespace detail {

// Check an optional per-channel parameter ([C] or undefined) and return it contiguous.
template <typename T>
Tensor<T> channel_param(const Tensor<T>& p, int64_t C, const char* op, const char* name, const Shape& x_shape) {
  if (!p.defined()) return p;
  ONENIP_CHECK(p.shape() == Shape{C}, op, ": ", name, " must have shape [", C, "] for input ", shape_str(x_shape),
               ", got ", shape_str(p.shape()));
  return p.detach().contiguous();
}

// Data pointer of an optional tensor (null when undefined).
template <typename T>
T* data_or_null(const Tensor<T>& t) {
  return t.defined() ? t.data_ptr() : nullptr;
}

}  // namespace detail

/// (x - mean) / sqrt(var + eps) * weight + bias over the last dim. weight, bias: [C] or undefined.
template <typename T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, double eps = 1e-5) {
  ONENIP_CHECK(x.dim() >= 1, "layer_norm: input must have at least one dim, got a scalar");
  const Device device = kernels::common_device<T>("layer_norm", {&x, &weight, &bias});
  const int64_t C = x.size(-1), rows = C > 0 ? x.numel() / C : 0;
  Tensor<T> w = detail::channel_param(weight, C, "layer_norm", "weight", x.shape());
  Tensor<T> b = detail::channel_param(bias, C, "layer_norm", "bias", x.shape());
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape(), device);
  Tensor<T> mean = Tensor<T>::empty({rows}, device), rstd = Tensor<T>::empty({rows}, device);
  kernels::layer_norm<T>({device, rows, C, eps, xc.data_ptr(), detail::data_or_null(w), detail::data_or_null(b),
                          out.data_ptr(), mean.data_ptr(), rstd.data_ptr()});
  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(xc, "LayerNorm"), sw(w, "LayerNorm");
  return record<T>(out, "LayerNorm", {x, weight, bias}, [sx, sw, mean, rstd, C, rows, gx, gw, gb, device](const Tensor<T>& g) {
    Tensor<T> xs = sx.get(), ws = sw.get(), gc = g.contiguous();
    Tensor<T> dx = gx ? Tensor<T>::empty(xs.shape(), device) : Tensor<T>();
    Tensor<T> dw = gw ? Tensor<T>::empty({C}, device) : Tensor<T>(), db = gb ? Tensor<T>::empty({C}, device) : Tensor<T>();
    kernels::layer_norm_backward<T>({device, rows, C, xs.data_ptr(), detail::data_or_null(ws), mean.data_ptr(),
                                     rstd.data_ptr(), gc.data_ptr(), detail::data_or_null(dx), detail::data_or_null(dw),
                                     detail::data_or_null(db)});
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

/// x / sqrt(mean(x^2) + eps) * weight over the last dim (RMSNorm, Zhang & Sennrich 2019; PyTorch's
/// F.rms_norm over one dim). weight: [C] or undefined.
template <typename T>
Tensor<T> rms_norm(const Tensor<T>& x, const Tensor<T>& weight, double eps = 1e-6) {
  ONENIP_CHECK(x.dim() >= 1, "rms_norm: input must have at least one dim, got a scalar");
  ONENIP_CHECK(eps >= 0, "rms_norm: eps must be >= 0, got ", eps);
  const Device device = kernels::common_device<T>("rms_norm", {&x, &weight});
  const int64_t C = x.size(-1), rows = C > 0 ? x.numel() / C : 0;
  Tensor<T> w = detail::channel_param(weight, C, "rms_norm", "weight", x.shape());
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape(), device), rstd = Tensor<T>::empty({rows}, device);
  kernels::rms_norm<T>({device, rows, C, eps, xc.data_ptr(), detail::data_or_null(w), out.data_ptr(), rstd.data_ptr()});
  const bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight});
  if (!gx && !gw) return out;
  SavedTensor<T> sx(xc, "RMSNorm"), sw(w, "RMSNorm");
  return record<T>(out, "RMSNorm", {x, weight}, [sx, sw, rstd, C, rows, gx, gw, device](const Tensor<T>& g) {
    Tensor<T> xs = sx.get(), ws = sw.get(), gc = g.contiguous();
    Tensor<T> dx = gx ? Tensor<T>::empty(xs.shape(), device) : Tensor<T>();
    Tensor<T> dw = gw ? Tensor<T>::empty({C}, device) : Tensor<T>();
    kernels::rms_norm_backward<T>({device, rows, C, xs.data_ptr(), detail::data_or_null(ws), rstd.data_ptr(),
                                   gc.data_ptr(), detail::data_or_null(dx), detail::data_or_null(dw)});
    return std::vector<Tensor<T>>{dx, dw};
  });
}

/// x [N, C] or [N, C, *]. training: normalise with the batch statistics and, when running stats
/// are given, update them in place: running = (1 - momentum) running + momentum batch_stat, the
/// variance unbiased. Eval: normalise with the running statistics (required then).
template <typename T>
Tensor<T> batch_norm(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                     const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
  ONENIP_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C] or [N, C, *], got ", shape_str(x.shape()));
  const Device device = kernels::common_device<T>("batch_norm", {&x, &running_mean, &running_var, &weight, &bias});
  const int64_t N = x.size(0), C = x.size(1), S = C > 0 && N > 0 ? x.numel() / (N * C) : 0, M = N * S;
  Tensor<T> w = detail::channel_param(weight, C, "batch_norm", "weight", x.shape());
  Tensor<T> b = detail::channel_param(bias, C, "batch_norm", "bias", x.shape());
  detail::channel_param(running_mean, C, "batch_norm", "running_mean", x.shape());
  detail::channel_param(running_var, C, "batch_norm", "running_var", x.shape());
  ONENIP_CHECK(running_mean.defined() == running_var.defined(),
               "batch_norm: give both running_mean and running_var or neither");
  ONENIP_CHECK(training || running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
  ONENIP_CHECK(!training || M > 1, "batch_norm: training needs more than one value per channel, got input ",
               shape_str(x.shape()));
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape(), device);
  Tensor<T> mean = Tensor<T>::empty({C}, device), rstd = Tensor<T>::empty({C}, device);
  kernels::BatchNormProblem<T> p;
  p.device = device, p.N = N, p.C = C, p.S = S, p.training = training, p.momentum = momentum, p.eps = eps;
  p.x = xc.data_ptr(), p.w = detail::data_or_null(w), p.b = detail::data_or_null(b);
  if (running_mean.defined()) {
    p.running_mean = running_mean.data_ptr(), p.running_mean_stride = running_mean.stride(0);
    p.running_var = running_var.data_ptr(), p.running_var_stride = running_var.stride(0);
  }
  p.y = out.data_ptr(), p.mean = mean.data_ptr(), p.rstd = rstd.data_ptr();
  kernels::batch_norm(p);
  if (training && running_mean.defined()) running_mean.bump_version(), running_var.bump_version();

  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(xc, "BatchNorm"), sw(w, "BatchNorm");
  return record<T>(out, "BatchNorm", {x, weight, bias},
                   [sx, sw, mean, rstd, N, C, S, training, gx, gw, gb, device](const Tensor<T>& g) {
    Tensor<T> xs = sx.get(), ws = sw.get(), gc = g.contiguous();
    Tensor<T> dx = gx ? Tensor<T>::empty(xs.shape(), device) : Tensor<T>();
    Tensor<T> dw = gw ? Tensor<T>::empty({C}, device) : Tensor<T>(), db = gb ? Tensor<T>::empty({C}, device) : Tensor<T>();
    kernels::batch_norm_backward<T>({device, N, C, S, training, xs.data_ptr(), detail::data_or_null(ws), mean.data_ptr(),
                                     rstd.data_ptr(), gc.data_ptr(), detail::data_or_null(dx), detail::data_or_null(dw),
                                     detail::data_or_null(db)});
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

}  // namespace onenip

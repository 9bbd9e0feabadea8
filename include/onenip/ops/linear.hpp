/// \file
/// linear(x, W, b) = x W^T + b over any leading dims, as torch.nn.functional.linear.
///
/// x [..., in] is read as one [rows, in] matrix (no copy when it is contiguous, or a 2-D view
/// the GEMM kernel reads directly); the product is a single GEMM that starts from the bias
/// (GemmProblem::bias_row), so the bias costs no extra pass. Backward: dx = g W, dW = g^T x, db = column sums of g.
#pragma once

#include "matmul.hpp"

namespace onenip {

namespace detail {

// x as a [rows, in] matrix the GEMM kernel reads directly, copying only when it has to.
template <typename T>
Tensor<T> as_rows(const Tensor<T>& x, int64_t in) {
  if (x.dim() == 2) return gemm_ready(x);
  Tensor<T> c = x.is_contiguous() ? x : x.contiguous();
  int64_t rows = numel_of(Shape(x.shape().begin(), x.shape().end() - 1));
  return Tensor<T>::from_storage(c.storage(), {rows, in}, {in, 1}, c.offset());
}

}  // namespace detail

/// x [..., in], weight [out, in], bias [out] or undefined -> [..., out].
template <typename T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias) {
  const Device device = kernels::common_device<T>("linear", {&x, &weight, &bias});
  ONENIP_CHECK(weight.defined() && weight.dim() == 2, "linear: weight must be 2-D [out, in], got ",
               weight.defined() ? shape_str(weight.shape()) : std::string("undefined"));
  ONENIP_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input ", shape_str(x.shape()),
               " does not end in in_features ", weight.size(1), " of weight ", shape_str(weight.shape()));
  const int64_t in = weight.size(1), out_f = weight.size(0);
  ONENIP_CHECK(!bias.defined() || bias.shape() == Shape{out_f}, "linear: bias ",
               bias.defined() ? shape_str(bias.shape()) : std::string(), " must be [", out_f, "] for weight ",
               shape_str(weight.shape()));
  Tensor<T> x2 = detail::as_rows(x.detach(), in), w = detail::gemm_ready(weight.detach());
  const int64_t rows = x2.size(0);
  Shape out_shape = x.shape();
  out_shape.back() = out_f;
  Tensor<T> out = Tensor<T>::empty(out_shape, device);
  Tensor<T> bc = bias.defined() ? bias.detach().contiguous() : Tensor<T>();
  detail::gemm_2d(x2, w.transpose(0, 1), out.data_ptr(), out_f, bc.defined() ? bc.data_ptr() : nullptr, device);

  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(gw ? x2 : Tensor<T>(), "Linear"), sw(gx ? w : Tensor<T>(), "Linear");
  Shape x_shape = x.shape();
  return record<T>(out, "Linear", {x, weight, bias}, [sx, sw, x_shape, in, out_f, rows, gx, gw, gb, device](const Tensor<T>& g) {
    Tensor<T> g2 = g.contiguous().view({rows, out_f});
    Tensor<T> dx, dw, db;
    if (gx) {
      dx = Tensor<T>::empty(x_shape, device);
      detail::gemm_2d(g2, sw.get(), dx.data_ptr(), in, static_cast<const T*>(nullptr), device);
    }
    if (gw) {
      dw = Tensor<T>::empty({out_f, in}, device);
      detail::gemm_2d(g2.transpose(0, 1), sx.get(), dw.data_ptr(), in, static_cast<const T*>(nullptr), device);
    }
    if (gb) db = detail::sum_kernel(g2, {true, false}).view({out_f});
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

}  // namespace onenip

// linear(x, W, b) = x W^T + b over any leading dims, as torch.nn.functional.linear.
//
// x [..., in] is read as one [rows, in] matrix (no copy when it is contiguous, or a 2-D view
// Eigen can map); the product is a single GEMM into an output pre-filled with the bias, so
// the bias costs no extra pass. Backward: dx = g W, dW = g^T x, db = column sums of g.
#pragma once

#include "matmul.hpp"

namespace onenip {

namespace detail {

// x as a [rows, in] matrix Eigen can map, copying only when it has to.
template <typename T>
Tensor<T> as_rows(const Tensor<T>& x, int64_t in) {
  if (x.dim() == 2) return gemm_ready(x);
  Tensor<T> c = x.is_contiguous() ? x : x.contiguous();
  int64_t rows = numel_of(Shape(x.shape().begin(), x.shape().end() - 1));
  return Tensor<T>::from_storage(c.storage(), {rows, in}, {in, 1}, c.offset());
}

// C [M, N] (contiguous) = A @ B (+ C when accumulate) for 2-D tensors whose layouts gemm_one accepts.
template <typename T>
void gemm2d(const Tensor<T>& a, const Tensor<T>& b, T* c, bool accumulate) {
  if (a.size(0) == 0 || b.size(1) == 0) return;
  if (a.size(1) == 0) {  // empty inner dimension: the product is zero
    if (!accumulate) std::fill(c, c + a.size(0) * b.size(1), T(0));
    return;
  }
  int64_t ars = a.stride(0), acs = a.stride(1), brs = b.stride(0), bcs = b.stride(1);
  if (a.size(1) == 1) acs = 1;
  if (a.size(0) == 1 && acs != 1) ars = 1;
  if (b.size(1) == 1) bcs = 1;
  if (b.size(0) == 1 && bcs != 1) brs = 1;
  gemm_one(a.data(), ars, acs, b.data(), brs, bcs, c, a.size(0), a.size(1), b.size(1), accumulate);
}

}  // namespace detail

// x [..., in], weight [out, in], bias [out] or undefined -> [..., out].
template <typename T>
Tensor<T> linear(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias) {
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
  Tensor<T> out = Tensor<T>::empty(out_shape);
  T* op = out.data();
  if (bias.defined()) {
    Tensor<T> bc = bias.contiguous();
    const T* bp = bc.data();
    parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(out_f, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(bp, bp + out_f, op + r * out_f);
    });
  }
  detail::gemm2d(x2, w.transpose(0, 1), op, bias.defined());

  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(gw ? x2 : Tensor<T>(), "Linear"), sw(gx ? w : Tensor<T>(), "Linear");
  Shape x_shape = x.shape();
  return record<T>(out, "Linear", {x, weight, bias}, [sx, sw, x_shape, in, out_f, rows, gx, gw, gb](const Tensor<T>& g) {
    Tensor<T> g2 = g.contiguous().view({rows, out_f});
    Tensor<T> dx, dw, db;
    if (gx) {
      dx = Tensor<T>::empty(x_shape);
      detail::gemm2d(g2, sw.get(), dx.data(), false);
    }
    if (gw) {
      dw = Tensor<T>::empty({out_f, in});
      detail::gemm2d(g2.transpose(0, 1), sx.get(), dw.data(), false);
    }
    if (gb) db = detail::sum_kernel(g2, {true, false}).view({out_f});
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

}  // namespace onenip

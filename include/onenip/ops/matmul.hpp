/// \file
/// matmul with PyTorch's semantics (1-D promotion, batch broadcasting) and its gradient, on the
/// GEMM kernel (kernels/gemm.hpp). Operands whose last two dims are row- or column-major (a
/// transposed view, say) are passed as they are, without a copy.
#pragma once

#include "../kernels/gemm.hpp"
#include "precision.hpp"
#include "reduce.hpp"

namespace onenip {

namespace detail {

// The precision a product of T is asked for: the process-wide setting for float, exact for double.
template <typename T>
MathPrecision gemm_precision() {
  return std::is_same_v<T, float> ? matmul_precision() : MathPrecision::FP32;
}

// A view whose last two dims the GEMM kernel reads directly (one unit stride, positive outer
// stride), copied only when it has to be.
template <typename T>
Tensor<T> gemm_ready(const Tensor<T>& t) {
  int64_t r = t.dim();
  int64_t rs = t.strides()[size_t(r - 2)], cs = t.strides()[size_t(r - 1)];
  int64_t rows = t.shape()[size_t(r - 2)], cols = t.shape()[size_t(r - 1)];
  bool row_major = (cs == 1 || cols == 1) && rs >= std::max<int64_t>(cols, 1);
  bool col_major = (rs == 1 || rows == 1) && cs >= std::max<int64_t>(rows, 1);
  return (row_major || col_major) ? t : t.detach().contiguous();
}

// C = (bias_row +) A @ B for 2-D operands the kernel reads directly; c is [M, N] row-major with
// stride ldc; bias_row [N] or null.
template <typename T>
void gemm_2d(const Tensor<T>& a, const Tensor<T>& b, T* c, int64_t ldc, const T* bias_row, Device device) {
  kernels::GemmProblem<T> p;
  p.device = device;
  p.M = a.size(0), p.K = a.size(1), p.N = b.size(1);
  p.a = a.data_ptr(), p.a_rs = a.stride(0), p.a_cs = a.stride(1);
  p.b = b.data_ptr(), p.b_rs = b.stride(0), p.b_cs = b.stride(1);
  p.c = c, p.ldc = ldc, p.bias_row = bias_row;
  p.precision = gemm_precision<T>();
  kernels::gemm(p);
}

// Batched C = A @ B for rank >= 2 operands with broadcast batch dims. No autograd.
template <typename T>
Tensor<T> bmm_kernel(const Tensor<T>& a_in, const Tensor<T>& b_in) {
  Tensor<T> a = gemm_ready(a_in), b = gemm_ready(b_in);
  const Device device = kernels::common_device<T>("matmul", {&a, &b});
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  ONENIP_CHECK(b.size(-2) == K, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
               " are not aligned (", K, " vs ", b.size(-2), ")");
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor<T> out = Tensor<T>::empty(out_shape, device);
  kernels::GemmProblem<T> p;
  p.device = device;
  p.M = M, p.N = N, p.K = K;
  p.a = a.data_ptr(), p.a_rs = a.stride(-2), p.a_cs = a.stride(-1);
  p.b = b.data_ptr(), p.b_rs = b.stride(-2), p.b_cs = b.stride(-1);
  p.c = out.data_ptr(), p.ldc = N, p.c_batch_stride = M * N;
  p.batch = batch;
  p.a_batch_strides = broadcast_strides(ab, Shape(a.strides().begin(), a.strides().end() - 2), batch);
  p.b_batch_strides = broadcast_strides(bb, Shape(b.strides().begin(), b.strides().end() - 2), batch);
  p.precision = gemm_precision<T>();
  kernels::gemm(p);
  return out;
}

}  // namespace detail

/// Matrix product with PyTorch's rules: 1-D operands are promoted (and the added dim removed),
/// batch dims broadcast.
template <typename T>
Tensor<T> matmul(const Tensor<T>& a, const Tensor<T>& b) {
  ONENIP_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands must have at least one dim, got shapes ",
               shape_str(a.shape()), " and ", shape_str(b.shape()));
  if (a.dim() == 1 && b.dim() == 1) return matmul(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 1) return matmul(a.unsqueeze(0), b).squeeze(-2);
  if (b.dim() == 1) return matmul(a, b.unsqueeze(1)).squeeze(-1);
  Tensor<T> out = detail::bmm_kernel(a.detach(), b.detach());
  bool ga = any_requires_grad<T>({&a}), gb = any_requires_grad<T>({&b});
  SavedTensor<T> sa(gb ? a.detach() : Tensor<T>(), "MatMul"), sb(ga ? b.detach() : Tensor<T>(), "MatMul");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "MatMul", {a, b}, [sa, sb, sha, shb, ga, gb](const Tensor<T>& g) {
    // dA = dC @ B^T, dB = A^T @ dC; batch dims that were broadcast are summed back.
    Tensor<T> da, db;
    if (ga) da = sum_to(detail::bmm_kernel(g, sb.get().transpose(-1, -2)), sha);
    if (gb) db = sum_to(detail::bmm_kernel(sa.get().transpose(-1, -2), g), shb);
    return std::vector<Tensor<T>>{da, db};
  });
}

}  // namespace onenip

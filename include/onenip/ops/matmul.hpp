// Matrix products through Eigen: matmul with PyTorch's semantics (1-D promotion, batch
// broadcasting) and its gradient. Operands whose last two dims are row- or column-major
// (a transposed view, say) are mapped without a copy.
#pragma once

#include <Eigen/Core>

#include "reduce.hpp"

namespace onenip {

namespace detail {

template <typename T>
using MatMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
template <typename T>
using MatMapCM = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0, Eigen::OuterStride<>>;

// C (+)= A @ B for one matrix each; A, B given by pointer and (row, col) strides, one of which is 1.
template <typename T>
void gemm_one(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c, int64_t M, int64_t K,
              int64_t N, bool accumulate) {
  MatMap<T> C(c, M, N, Eigen::OuterStride<>(N));
  auto run = [&](const auto& A) {
    if (bcs == 1) {
      MatMap<T> B(const_cast<T*>(b), K, N, Eigen::OuterStride<>(brs));
      if (accumulate) C.noalias() += A * B; else C.noalias() = A * B;
    } else {
      MatMapCM<T> B(const_cast<T*>(b), K, N, Eigen::OuterStride<>(bcs));
      if (accumulate) C.noalias() += A * B; else C.noalias() = A * B;
    }
  };
  if (acs == 1) run(MatMap<T>(const_cast<T*>(a), M, K, Eigen::OuterStride<>(ars)));
  else run(MatMapCM<T>(const_cast<T*>(a), M, K, Eigen::OuterStride<>(acs)));
}

// A view whose last two dims Eigen can map directly (one unit stride, positive outer stride).
template <typename T>
Tensor<T> gemm_ready(const Tensor<T>& t) {
  int64_t r = t.dim();
  int64_t rs = t.strides()[size_t(r - 2)], cs = t.strides()[size_t(r - 1)];
  int64_t rows = t.shape()[size_t(r - 2)], cols = t.shape()[size_t(r - 1)];
  bool row_major = (cs == 1 || cols == 1) && rs >= std::max<int64_t>(cols, 1);
  bool col_major = (rs == 1 || rows == 1) && cs >= std::max<int64_t>(rows, 1);
  return (row_major || col_major) ? t : t.detach().contiguous();
}

// Batched C = A @ B for rank >= 2 operands with broadcast batch dims. No autograd.
template <typename T>
Tensor<T> bmm_kernel(const Tensor<T>& a_in, const Tensor<T>& b_in) {
  Tensor<T> a = gemm_ready(a_in), b = gemm_ready(b_in);
  int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  ONENIP_CHECK(b.size(-2) == K, "matmul: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
               " are not aligned (", K, " vs ", b.size(-2), ")");
  Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ab, bb);
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor<T> out = Tensor<T>::empty(out_shape);
  int64_t nb = numel_of(batch);
  Shape ast = broadcast_strides(ab, Shape(a.strides().begin(), a.strides().end() - 2), batch);
  Shape bst = broadcast_strides(bb, Shape(b.strides().begin(), b.strides().end() - 2), batch);
  auto batch_offset = [&](int64_t i, const Shape& st) {
    int64_t off = 0;
    for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
      off += (i % batch[size_t(d)]) * st[size_t(d)];
      i /= batch[size_t(d)];
    }
    return off;
  };
  int64_t ars = a.stride(-2), acs = a.stride(-1), brs = b.stride(-2), bcs = b.stride(-1);
  if (a.size(-1) == 1) acs = 1;  // a single column: any stride works as unit
  if (a.size(-2) == 1 && acs != 1) ars = 1;
  if (b.size(-1) == 1) bcs = 1;
  if (b.size(-2) == 1 && bcs != 1) brs = 1;
  const T* ap = a.data();
  const T* bp = b.data();
  T* op = out.data();
  auto one = [&](int64_t i) {
    gemm_one(ap + batch_offset(i, ast), ars, acs, bp + batch_offset(i, bst), brs, bcs, op + i * M * N, M, K, N, false);
  };
  // Many small products: one per thread. Few large ones: Eigen parallelises each.
  if (nb >= num_threads() && M * N * K < (int64_t(1) << 21)) {
    parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < nb; ++i) one(i);
  }
  return out;
}

}  // namespace detail

// Matrix product with PyTorch's rules: 1-D operands are promoted (and the added dim removed),
// batch dims broadcast.
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

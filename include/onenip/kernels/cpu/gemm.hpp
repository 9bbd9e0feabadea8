// CPU GEMM. Float products of some size run on our packed kernel (gemm_packed.hpp) where the
// target has AVX-512; the rest (double, tiny or vector-shaped products, other targets) on
// Eigen, each operand mapped in place as a row- or column-major matrix (no copy), so transposed
// views cost nothing. Threads: many small products run one per thread (each single-threaded
// inside the parallel region); otherwise products run one after another, each spread over the
// threads.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

#include "../../core/parallel.hpp"
#include "gemm_packed.hpp"

namespace onenip::kernels::cpu {

namespace detail {

template <typename T>
using RowMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0, Eigen::OuterStride<>>;
template <typename T>
using ColMajorMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0, Eigen::OuterStride<>>;

// A single row or column may have any stride along its length: give it unit stride across.
inline void unit_stride_for_vectors(int64_t rows, int64_t cols, int64_t& rs, int64_t& cs) {
  if (cols == 1) cs = 1;
  if (rows == 1 && cs != 1) rs = 1;
}

// Packing pays off once the product has a few rows and columns of tiles' worth; vector-shaped
// products are Eigen's (a matrix-vector kernel reads each element once, with no packing).
inline bool packed_pays(int64_t M, int64_t N, int64_t K) {
  return M >= 4 && N >= 16 && K >= 8 && M * N * K >= (int64_t(1) << 15);
}

// One product C (+)= A B (or C = bias + A B) with the problem's sizes, at the given operand
// pointers.
template <typename T>
void gemm_one(const GemmProblem<T>& p, const T* a, const T* b, T* c) {
  const int64_t M = p.M, N = p.N, K = p.K;
  if (M == 0 || N == 0) return;
  if constexpr (packed::kUsedFor<T>) {  // the bias added as the tiles are stored
    if (K > 0 && packed_pays(M, N, K))
      return packed::gemm(M, N, K, a, p.a_rs, p.a_cs, b, p.b_rs, p.b_cs, c, p.ldc, p.accumulate && !p.bias_row,
                          p.bias_row);
  }
  RowMajorMap<T> C(c, M, N, Eigen::OuterStride<>(p.ldc));
  bool accumulate = p.accumulate;
  if (p.bias_row) {  // C starts from the bias on every row, then the product adds onto it
    parallel_for(M, std::max<int64_t>(1, 65536 / N), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(p.bias_row, p.bias_row + N, c + r * p.ldc);
    });
    accumulate = true;
  }
  if (K == 0) {  // empty inner dimension: the product is zero
    if (!accumulate) C.setZero();
    return;
  }
  int64_t ars = p.a_rs, acs = p.a_cs, brs = p.b_rs, bcs = p.b_cs;
  unit_stride_for_vectors(M, K, ars, acs);
  unit_stride_for_vectors(K, N, brs, bcs);
  auto run = [&](const auto& A) {
    if (bcs == 1) {
      RowMajorMap<T> B(const_cast<T*>(b), K, N, Eigen::OuterStride<>(brs));
      if (accumulate) C.noalias() += A * B; else C.noalias() = A * B;
    } else {
      ColMajorMap<T> B(const_cast<T*>(b), K, N, Eigen::OuterStride<>(bcs));
      if (accumulate) C.noalias() += A * B; else C.noalias() = A * B;
    }
  };
  if (acs == 1) run(RowMajorMap<T>(const_cast<T*>(a), M, K, Eigen::OuterStride<>(ars)));
  else run(ColMajorMap<T>(const_cast<T*>(a), M, K, Eigen::OuterStride<>(acs)));
}

// Element offset of batch item i for batch dims `batch` with `strides`.
inline int64_t batch_offset(int64_t i, const Shape& batch, const Shape& strides) {
  int64_t off = 0;
  for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
    off += (i % batch[size_t(d)]) * strides[size_t(d)];
    i /= batch[size_t(d)];
  }
  return off;
}

}  // namespace detail

template <typename T>
void gemm(const GemmProblem<T>& p) {
  const int64_t nb = numel_of(p.batch);
  auto one = [&](int64_t i) {
    detail::gemm_one(p, p.a + detail::batch_offset(i, p.batch, p.a_batch_strides),
                     p.b + detail::batch_offset(i, p.batch, p.b_batch_strides), p.c + i * p.c_batch_stride);
  };
  if (nb >= num_threads() && p.M * p.N * p.K < (int64_t(1) << 21)) {
    parallel_for(nb, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < nb; ++i) one(i);
  }
}

}  // namespace onenip::kernels::cpu

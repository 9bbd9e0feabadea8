// CPU GEMM. Float products of some size run on our packed kernel (gemm_packed.hpp) where the
// target has AVX-512; the rest (double, tiny or vector-shaped products, other targets) on
// Eigen, each operand mapped in place as a row- or column-major matrix (no copy), so transposed
// views cost nothing. Threads: many small products run one per thread (each single-threaded
// inside the parallel region); otherwise products run one after another, each spread over the
// threads (Eigen's in shares of whole row or column blocks: see kEigenSplit).
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

// Eigen's products run on one thread each (keep_eigen_on_one_thread, core/parallel.hpp): Eigen's
// own split chooses its K blocking from the thread count, so the bits of a product would depend
// on it. A large product is split here instead, into threads' shares of whole blocks of
// kEigenSplit rows (or columns): a multiple of every register tile of Eigen's, so each row and
// column sits in the same place of Eigen's tiles however the shares fall, and is summed in the
// same order.
inline constexpr int64_t kEigenSplit = 96;

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
  // C[r0:r1, c0:c1] (+)= A[r0:r1, :] B[:, c0:c1], one single-threaded Eigen product.
  auto block = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    RowMajorMap<T> Cb(c + r0 * p.ldc + c0, r1 - r0, c1 - c0, Eigen::OuterStride<>(p.ldc));
    auto run = [&](const auto& A) {
      if (bcs == 1) {
        RowMajorMap<T> B(const_cast<T*>(b + c0 * bcs), K, c1 - c0, Eigen::OuterStride<>(brs));
        if (accumulate) Cb.noalias() += A * B; else Cb.noalias() = A * B;
      } else {
        ColMajorMap<T> B(const_cast<T*>(b + c0 * bcs), K, c1 - c0, Eigen::OuterStride<>(bcs));
        if (accumulate) Cb.noalias() += A * B; else Cb.noalias() = A * B;
      }
    };
    if (acs == 1) run(RowMajorMap<T>(const_cast<T*>(a + r0 * ars), r1 - r0, K, Eigen::OuterStride<>(ars)));
    else run(ColMajorMap<T>(const_cast<T*>(a + r0 * ars), r1 - r0, K, Eigen::OuterStride<>(acs)));
  };
  // Threads take whole shares of kEigenSplit rows (or columns, for few rows), one product each.
  const int64_t split = kEigenSplit;
  if (M * N * K < (int64_t(1) << 18)) block(0, M, 0, N);  // too small to be worth a second thread
  else if (M >= 2 * split)
    parallel_for((M + split - 1) / split, 1, [&](int64_t t0, int64_t t1) { block(t0 * split, std::min(M, t1 * split), 0, N); });
  else if (N >= 2 * split)
    parallel_for((N + split - 1) / split, 1, [&](int64_t t0, int64_t t1) { block(0, M, t0 * split, std::min(N, t1 * split)); });
  else block(0, M, 0, N);
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

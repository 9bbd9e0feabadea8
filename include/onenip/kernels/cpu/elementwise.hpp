// CPU pointwise kernels: one strided loop for every elementwise op, with unit-stride fast paths.
#pragma once

#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

// Visit every index of `shape` with N operands, each given by a base pointer and strides (in
// elements). `row(ptrs, n, inner_strides)` processes a run of the innermost dim. Runs are
// processed in parallel, so `row` must only write through operand pointers that differ per
// index. Long rows are cut into pieces of about equal length: a contiguous tensor coalesces to a
// single row, which would otherwise run on one thread. Only rows long enough to pay for waking the
// other threads are cut (at 2^15 elements a piece, batch-1 inference measured 8 % slower).
template <typename T, size_t N, typename Row>
void for_each_row(Shape shape, std::array<Shape, N> strides, std::array<T*, N> base, Row&& row) {
  if (numel_of(shape) == 0) return;
  coalesce_dims<N>(shape, strides);
  const int64_t rank = int64_t(shape.size());
  const int64_t inner = shape.back();
  const int64_t rows = numel_of(shape) / inner;
  constexpr int64_t kPiece = int64_t(1) << 17;  // elements per piece at most
  const int64_t pieces = (inner + kPiece - 1) / kPiece;
  // Piece q starts at a multiple of 16 elements (vector-aligned where the row is).
  auto start = [&, units = (inner + 15) / 16](int64_t q) { return std::min(inner, units * q / pieces * 16); };
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = strides[k].back();
  const int64_t grain = pieces > 1 ? 1 : std::max<int64_t>(1, 32768 / inner);  // in rows, as before pieces
  parallel_for(rows * pieces, grain, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t r = w / pieces, q = w % pieces, first = start(q);
      std::array<T*, N> p = base;
      int64_t rem = r;
      for (int64_t d = rank - 2; d >= 0; --d) {
        int64_t i = rem % shape[d];
        rem /= shape[d];
        for (size_t k = 0; k < N; ++k) p[k] += i * strides[k][d];
      }
      for (size_t k = 0; k < N; ++k) p[k] += first * inner_st[k];
      row(p, start(q + 1) - first, inner_st);
    }
  });
}

template <typename T, size_t N, typename F>
void pointwise(const PointwiseProblem<T, N>& p, const F& f) {
  for_each_row<T, N>(p.shape, p.strides, p.data, [&](std::array<T*, N> ptr, int64_t n, std::array<int64_t, N> s) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      T* out = ptr[0];  // may alias an input (in-place updates)
      const bool unit = s[0] == 1 && ((s[I + 1] == 1) && ...);
      if (unit) {  // the common case: contiguous runs, vectorisable
        if constexpr (std::is_same_v<F, fn::Identity>) {  // a copy: libc's memmove is the fastest
          std::memmove(out, ptr[1], size_t(n) * sizeof(T));
          return;
        }
        for (int64_t i = 0; i < n; ++i) out[i] = f(ptr[I + 1][i]...);
      } else if constexpr (N == 3) {
        if (s[0] == 1 && s[1] == 1 && s[2] == 0) {  // a tensor and a broadcast scalar
          const T second = *ptr[2];
          for (int64_t i = 0; i < n; ++i) out[i] = f(ptr[1][i], second);
          return;
        }
        for (int64_t i = 0; i < n; ++i) out[i * s[0]] = f(ptr[I + 1][i * s[I + 1]]...);
      } else {
        for (int64_t i = 0; i < n; ++i) out[i * s[0]] = f(ptr[I + 1][i * s[I + 1]]...);
      }
    }(std::make_index_sequence<N - 1>{});
  });
}

template <typename U, typename T>
void convert(const ConvertProblem<U, T>& p) {
  for (int64_t i = 0; i < p.n; ++i) p.dst[i] = U(p.src[i]);
}

}  // namespace onenip::kernels::cpu

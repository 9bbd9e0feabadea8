// CPU pointwise kernels: one strided loop for every elementwise op, with unit-stride fast paths.
#pragma once

#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

namespace detail {

// Merge adjacent dims that are contiguous with each other in every operand, and drop size-1
// dims, so the inner loop runs as long as possible. In place (the vectors only shrink), since
// every elementwise op runs this.
template <size_t N>
void coalesce(Shape& shape, std::array<Shape, N>& strides) {
  size_t out = 0;  // dims kept so far, in [0, out)
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (out > 0) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k) merge &= strides[k][out - 1] == strides[k][i] * shape[i];
      if (merge) {
        shape[out - 1] *= shape[i];
        for (size_t k = 0; k < N; ++k) strides[k][out - 1] = strides[k][i];
        continue;
      }
    }
    shape[out] = shape[i];
    for (size_t k = 0; k < N; ++k) strides[k][out] = strides[k][i];
    ++out;
  }
  if (out == 0) {  // a single element (or rank 0)
    shape.assign(1, 1);
    for (size_t k = 0; k < N; ++k) strides[k].assign(1, 0);
    return;
  }
  shape.resize(out);
  for (size_t k = 0; k < N; ++k) strides[k].resize(out);
}

}  // namespace detail

// Visit every index of `shape` with N operands, each given by a base pointer and strides (in
// elements). `row(ptrs, n, inner_strides)` processes one run of the innermost dim. Rows run in
// parallel, so `row` must only write through operand pointers that differ per index.
template <typename T, size_t N, typename Row>
void for_each_row(Shape shape, std::array<Shape, N> strides, std::array<T*, N> base, Row&& row) {
  if (numel_of(shape) == 0) return;
  detail::coalesce<N>(shape, strides);
  const int64_t rank = int64_t(shape.size());
  const int64_t inner = shape.back();
  const int64_t rows = numel_of(shape) / inner;
  std::array<int64_t, N> inner_st;
  for (size_t k = 0; k < N; ++k) inner_st[k] = strides[k].back();
  parallel_for(rows, std::max<int64_t>(1, 32768 / inner), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      std::array<T*, N> p = base;
      int64_t rem = r;
      for (int64_t d = rank - 2; d >= 0; --d) {
        int64_t i = rem % shape[d];
        rem /= shape[d];
        for (size_t k = 0; k < N; ++k) p[k] += i * strides[k][d];
      }
      row(p, inner, inner_st);
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

// Broadcasting (NumPy / PyTorch rules) and the strided loop every elementwise kernel uses.
#pragma once

#include <array>

#include "../tensor.hpp"
#include "parallel.hpp"

namespace onenip {

// Shape that a and b broadcast to; the error shows both shapes.
inline Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    ONENIP_CHECK(da == db || da == 1 || db == 1, "shapes ", shape_str(a), " and ", shape_str(b),
                 " cannot be broadcast together (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides that read a tensor of `shape`/`strides` as if it had shape `target` (0 where broadcast).
inline Shape broadcast_strides(const Shape& shape, const Shape& strides, const Shape& target) {
  Shape out(target.size(), 0);
  size_t lead = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    ONENIP_CHECK(shape[i] == target[i + lead] || shape[i] == 1, "cannot broadcast shape ", shape_str(shape),
                 " to ", shape_str(target));
    out[i + lead] = shape[i] == 1 ? 0 : strides[i];
  }
  return out;
}

namespace detail {

// Merge adjacent dims that are contiguous with each other in every operand, and drop
// size-1 dims, so the inner loop runs as long as possible.
template <size_t N>
void coalesce(Shape& shape, std::array<Shape, N>& strides) {
  Shape s;
  std::array<Shape, N> st;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (!s.empty()) {
      bool merge = true;
      for (size_t k = 0; k < N; ++k) merge &= st[k].back() == strides[k][i] * shape[i];
      if (merge) {
        s.back() *= shape[i];
        for (size_t k = 0; k < N; ++k) st[k].back() = strides[k][i];
        continue;
      }
    }
    s.push_back(shape[i]);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides[k][i]);
  }
  if (s.empty()) {
    s.push_back(1);
    for (size_t k = 0; k < N; ++k) st[k].push_back(0);
  }
  shape = std::move(s);
  strides = std::move(st);
}

}  // namespace detail

// Visit every index of `shape` with N operands, each given by a base pointer and strides
// (in elements). `row(ptrs, n, inner_strides)` processes one run of the innermost dim.
// Rows run in parallel, so `row` must only write through operand pointers that differ per
// index (an output), never accumulate across indices.
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

}  // namespace onenip

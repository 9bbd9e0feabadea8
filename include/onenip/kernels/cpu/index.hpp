// CPU indexing kernels: plain loops; the adjoints add in a fixed order.
#pragma once

#include <algorithm>

namespace onenip::kernels::cpu {

template <typename T>
void index_select(const IndexSelectProblem<T>& p) {
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t k = 0; k < p.count; ++k) {
      const T* s = p.src + (o * p.src_len + p.index[k]) * p.inner;
      std::copy(s, s + p.inner, p.dst + (o * p.count + k) * p.inner);
    }
}

template <typename T>
void index_add(const IndexSelectProblem<T>& p) {
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t k = 0; k < p.count; ++k) {
      T* s = p.src + (o * p.src_len + p.index[k]) * p.inner;
      const T* d = p.dst + (o * p.count + k) * p.inner;
      for (int64_t i = 0; i < p.inner; ++i) s[i] += d[i];
    }
}

namespace detail {
// Offset in src of gathered element `flat`.
template <typename T>
int64_t gather_offset(const GatherProblem<T>& p, const Shape& index_strides, int64_t flat) {
  int64_t off = 0;
  for (size_t d = 0; d < p.index_shape.size(); ++d) {
    int64_t i = int64_t(d) == p.dim ? p.index[flat] : (flat / index_strides[d]) % p.index_shape[d];
    off += i * p.src_strides[d];
  }
  return off;
}
}  // namespace detail

template <typename T>
void gather(const GatherProblem<T>& p) {
  const Shape st = contiguous_strides(p.index_shape);
  const int64_t n = numel_of(p.index_shape);
  for (int64_t f = 0; f < n; ++f) p.out[f] = p.src[detail::gather_offset(p, st, f)];
}

template <typename T>
void scatter_add(const GatherProblem<T>& p) {
  const Shape st = contiguous_strides(p.index_shape);
  const int64_t n = numel_of(p.index_shape);
  for (int64_t f = 0; f < n; ++f) p.src[detail::gather_offset(p, st, f)] += p.out[f];
}

}  // namespace onenip::kernels::cpu

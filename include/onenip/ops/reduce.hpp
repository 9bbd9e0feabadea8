// Reductions: sum, mean, max/min (with indices), argmax/argmin, and sum_to (the adjoint of
// broadcasting). Tensors hold floating point only, so indices come back as an IndexTensor
// (int64 values in row-major order plus their shape).
#pragma once

#include <limits>

#include "elementwise.hpp"

namespace onenip {

// Integer results of argmax / argmin / max(dim): values in row-major order of `shape`.
struct IndexTensor {
  Shape shape;
  std::vector<int64_t> values;
  int64_t at(const Shape& idx) const {
    int64_t off = 0;
    Shape st = contiguous_strides(shape);
    for (size_t i = 0; i < idx.size(); ++i) off += idx[i] * st[i];
    return values[size_t(off)];
  }
};

namespace detail {

// Sorted, de-duplicated, wrapped dims; empty `dims` means all.
inline std::vector<bool> reduce_mask(Shape dims, int64_t rank) {
  std::vector<bool> m(size_t(rank), dims.empty());
  for (int64_t d : dims) m[size_t(wrap_dim(d, rank))] = true;
  return m;
}

inline Shape reduced_shape(const Shape& s, const std::vector<bool>& m, bool keepdim) {
  Shape out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!m[i]) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Sum over the dims in `m`; result has the keepdim shape. Two layouts are fast: reduced dims
// trailing (row sums) and reduced dims leading (column sums); others are permuted first.
template <typename T>
Tensor<T> sum_kernel(const Tensor<T>& a, const std::vector<bool>& m) {
  const int64_t rank = a.dim();
  Shape keep_shape = reduced_shape(a.shape(), m, true);
  Tensor<T> out = zeros<T>(keep_shape);
  if (a.numel() == 0) return out;
  // Reduce leading dims of a contiguous tensor: out[j] = sum_i a[i, j].
  int64_t lead = 0;
  while (lead < rank && (m[size_t(lead)] || a.shape()[size_t(lead)] == 1)) ++lead;
  bool trailing_kept = true;
  for (int64_t i = lead; i < rank; ++i) trailing_kept &= !m[size_t(i)] || a.shape()[size_t(i)] == 1;
  if (a.is_contiguous() && trailing_kept && lead > 0) {
    int64_t cols = out.numel(), rows = a.numel() / cols;
    const T* src = a.data();
    T* dst = out.data();
    parallel_for(cols, 1024, [&](int64_t c0, int64_t c1) {
      for (int64_t r = 0; r < rows; ++r) {
        const T* row = src + r * cols;
        for (int64_t c = c0; c < c1; ++c) dst[c] += row[c];
      }
    });
    return out;
  }
  // General: kept dims first, reduced dims last, then row sums.
  Shape perm;
  for (int64_t i = 0; i < rank; ++i)
    if (!m[size_t(i)]) perm.push_back(i);
  for (int64_t i = 0; i < rank; ++i)
    if (m[size_t(i)]) perm.push_back(i);
  Tensor<T> p = a.detach().permute(perm).contiguous();
  int64_t rows = out.numel(), len = a.numel() / std::max<int64_t>(rows, 1);
  const T* src = p.data();
  T* dst = out.data();
  parallel_for(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = src + r * len;
      T acc = T(0);
      for (int64_t i = 0; i < len; ++i) acc += row[i];
      dst[r] = acc;
    }
  });
  return out;
}

// Move `dim` last and make rows contiguous: returns (rows x len) data.
template <typename T>
Tensor<T> dim_last(const Tensor<T>& a, int64_t dim) {
  Shape perm;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (i != dim) perm.push_back(i);
  perm.push_back(dim);
  return a.detach().permute(perm).contiguous();
}

}  // namespace detail

// Sum over `dims` (all when empty).
template <typename T>
Tensor<T> sum(const Tensor<T>& a, const Shape& dims = {}, bool keepdim = false) {
  auto m = detail::reduce_mask(dims, a.dim());
  Tensor<T> kept = detail::sum_kernel(a, m);
  Shape keep_shape = kept.shape();
  Tensor<T> out = keepdim ? kept : kept.view(detail::reduced_shape(a.shape(), m, false));
  Shape in_shape = a.shape();
  return record<T>(out, "Sum", {a}, [in_shape, keep_shape](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{g.reshape(keep_shape).expand(in_shape)};
  });
}

template <typename T>
Tensor<T> mean(const Tensor<T>& a, const Shape& dims = {}, bool keepdim = false) {
  auto m = detail::reduce_mask(dims, a.dim());
  int64_t n = 1;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (m[size_t(i)]) n *= a.shape()[size_t(i)];
  return mul(sum(a, dims, keepdim), T(1) / T(std::max<int64_t>(n, 1)));
}

// Reduce the broadcast gradient `g` back to `shape` (sum over broadcast dims).
template <typename T>
Tensor<T> sum_to(const Tensor<T>& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - int64_t(shape.size());
  ONENIP_CHECK(lead >= 0, "sum_to: cannot reduce ", shape_str(g.shape()), " to ", shape_str(shape));
  Shape dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[size_t(i - lead)] == 1 && g.shape()[size_t(i)] != 1)) dims.push_back(i);
  if (dims.empty()) return g.reshape(shape);
  return sum(g, dims, true).reshape(shape);
}

namespace detail {
// Max (want_max) or min over one dim, with the index of the first extreme element.
template <typename T>
std::pair<Tensor<T>, IndexTensor> extreme(const Tensor<T>& a, int64_t dim, bool keepdim, bool want_max) {
  ONENIP_CHECK(a.numel() > 0, want_max ? "max" : "min", ": empty tensor of shape ", shape_str(a.shape()));
  dim = wrap_dim(dim, a.dim());
  Tensor<T> rows = a.dim() == 0 ? a.reshape({1}) : dim_last(a, dim);
  int64_t len = a.dim() == 0 ? 1 : a.shape()[size_t(dim)];
  int64_t n = a.numel() / len;
  std::vector<bool> m(size_t(a.dim()), false);
  if (a.dim() > 0) m[size_t(dim)] = true;
  Shape out_shape = reduced_shape(a.shape(), m, keepdim);
  Tensor<T> vals = Tensor<T>::empty(out_shape);
  IndexTensor idx{out_shape, std::vector<int64_t>(size_t(n))};
  const T* src = rows.data();
  for (int64_t r = 0; r < n; ++r) {
    const T* row = src + r * len;
    int64_t best = 0;
    for (int64_t i = 1; i < len; ++i)
      if (want_max ? (row[i] > row[best] || std::isnan(row[i])) : (row[i] < row[best] || std::isnan(row[i]))) {
        best = i;
        if (std::isnan(row[i])) break;
      }
    vals.data()[r] = row[best];
    idx.values[size_t(r)] = best;
  }
  return {vals, idx};
}

template <typename T>
Tensor<T> extreme_with_grad(const Tensor<T>& a, int64_t dim, bool keepdim, bool want_max, IndexTensor* indices) {
  auto [vals, idx] = extreme(a, dim, keepdim, want_max);
  if (indices) *indices = idx;
  int64_t d = wrap_dim(dim, a.dim());
  Shape in_shape = a.shape();
  return record<T>(vals, want_max ? "Max" : "Min", {a}, [idx, d, in_shape](const Tensor<T>& g) {
    // Scatter each gradient to the position that won.
    Tensor<T> gi = zeros<T>(in_shape);
    Tensor<T> gc = g.contiguous();
    Shape st = gi.strides();
    int64_t len = in_shape.empty() ? 1 : in_shape[size_t(d)];
    int64_t inner = 1;
    for (size_t i = size_t(d) + 1; i < in_shape.size(); ++i) inner *= in_shape[i];
    for (int64_t r = 0; r < gc.numel(); ++r) {
      int64_t outer = r / inner, in = r % inner;
      gi.data()[(outer * len + idx.values[size_t(r)]) * inner + in] += gc.data()[r];
    }
    return std::vector<Tensor<T>>{gi};
  });
}
}  // namespace detail

// Max over one dim; `indices`, if given, receives the argmax.
template <typename T>
Tensor<T> max(const Tensor<T>& a, int64_t dim, bool keepdim = false, IndexTensor* indices = nullptr) {
  return detail::extreme_with_grad(a, dim, keepdim, true, indices);
}
template <typename T>
Tensor<T> min(const Tensor<T>& a, int64_t dim, bool keepdim = false, IndexTensor* indices = nullptr) {
  return detail::extreme_with_grad(a, dim, keepdim, false, indices);
}
// Max / min of all elements (gradient to the first extreme element).
template <typename T> Tensor<T> max(const Tensor<T>& a) { return max(a.reshape({-1}), 0); }
template <typename T> Tensor<T> min(const Tensor<T>& a) { return min(a.reshape({-1}), 0); }

template <typename T>
IndexTensor argmax(const Tensor<T>& a, int64_t dim, bool keepdim = false) {
  return detail::extreme(a, dim, keepdim, true).second;
}
template <typename T>
IndexTensor argmin(const Tensor<T>& a, int64_t dim, bool keepdim = false) {
  return detail::extreme(a, dim, keepdim, false).second;
}

}  // namespace onenip

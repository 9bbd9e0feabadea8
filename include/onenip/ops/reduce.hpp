/// \file
/// Reductions: sum, mean, max/min (with indices), argmax/argmin, and sum_to (the adjoint of
/// broadcasting). Tensors hold floating point only, so indices come back as an IndexTensor
/// (int64 values in row-major order plus their shape).
#pragma once

#include <limits>

#include "../kernels/index.hpp"
#include "../kernels/reduce.hpp"
#include "elementwise.hpp"

namespace onenip {

/// Integer results of argmax / argmin / max(dim): values in row-major order of `shape`.
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

// Sum over the dims in `m`; result has the keepdim shape. Reduced dims leading a contiguous
// tensor are summed in place as columns; otherwise kept dims are moved first and reduced dims
// last (a copy) and each row is summed.
template <typename T>
Tensor<T> sum_kernel(const Tensor<T>& a, const std::vector<bool>& m) {
  const int64_t rank = a.dim();
  Shape keep_shape = reduced_shape(a.shape(), m, true);
  Tensor<T> out = Tensor<T>::empty(keep_shape, a.device());
  if (a.numel() == 0) return out.zero_();
  int64_t lead = 0;
  while (lead < rank && (m[size_t(lead)] || a.shape()[size_t(lead)] == 1)) ++lead;
  bool trailing_kept = true;
  for (int64_t i = lead; i < rank; ++i) trailing_kept &= !m[size_t(i)] || a.shape()[size_t(i)] == 1;
  if (a.is_contiguous() && trailing_kept && lead > 0) {
    const int64_t cols = out.numel();
    kernels::sum<T>({a.device(), 1, a.numel() / cols, cols, a.data_ptr(), out.data_ptr()});
    return out;
  }
  Shape perm;
  for (int64_t i = 0; i < rank; ++i)
    if (!m[size_t(i)]) perm.push_back(i);
  for (int64_t i = 0; i < rank; ++i)
    if (m[size_t(i)]) perm.push_back(i);
  Tensor<T> p = a.detach().permute(perm).contiguous();
  const int64_t rows = out.numel();
  kernels::sum<T>({a.device(), rows, a.numel() / std::max<int64_t>(rows, 1), 1, p.data_ptr(), out.data_ptr()});
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

/// Sum over `dims` (all when empty).
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

/// Reduce the broadcast gradient `g` back to `shape` (sum over broadcast dims).
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
  Tensor<T> vals = Tensor<T>::empty(out_shape, a.device());
  IndexTensor idx{out_shape, std::vector<int64_t>(size_t(n))};
  kernels::arg_extreme<T>({a.device(), n, len, want_max, rows.data_ptr(), vals.data_ptr(), idx.values.data()});
  return {vals, idx};
}

template <typename T>
Tensor<T> extreme_with_grad(const Tensor<T>& a, int64_t dim, bool keepdim, bool want_max, IndexTensor* indices) {
  auto [vals, idx] = extreme(a, dim, keepdim, want_max);
  if (indices) *indices = idx;
  const int64_t d = a.dim() == 0 ? 0 : wrap_dim(dim, a.dim());
  Shape in_shape = a.dim() == 0 ? Shape{1} : a.shape(), picked = in_shape;
  picked[size_t(d)] = 1;
  Shape out_shape = a.shape();
  // init-capture: clang before 16 cannot capture a structured binding by name
  return record<T>(vals, want_max ? "Max" : "Min", {a}, [idx = idx, d, in_shape, picked, out_shape](const Tensor<T>& g) {
    // Send each gradient to the position that won (scatter_add, the adjoint of gather).
    Tensor<T> gi = zeros<T>(in_shape, g.device()), gc = g.contiguous();
    kernels::scatter_add<T>({g.device(), picked, gi.strides(), d, idx.values.data(), gi.data_ptr(), gc.data_ptr()});
    return std::vector<Tensor<T>>{gi.view(out_shape)};
  });
}
}  // namespace detail

/// Max over one dim; `indices`, if given, receives the argmax.
template <typename T>
Tensor<T> max(const Tensor<T>& a, int64_t dim, bool keepdim = false, IndexTensor* indices = nullptr) {
  return detail::extreme_with_grad(a, dim, keepdim, true, indices);
}
template <typename T>
Tensor<T> min(const Tensor<T>& a, int64_t dim, bool keepdim = false, IndexTensor* indices = nullptr) {
  return detail::extreme_with_grad(a, dim, keepdim, false, indices);
}
/// Max / min of all elements (gradient to the first extreme element).
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

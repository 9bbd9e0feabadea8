/// \file
/// Joining and indexing: cat, stack, split, chunk, index_select, gather.
#pragma once

#include "reduce.hpp"

namespace onenip {

/// Concatenate along `dim`; all other dims must agree.
template <typename T>
Tensor<T> cat(const std::vector<Tensor<T>>& xs, int64_t dim = 0) {
  ONENIP_CHECK(!xs.empty(), "cat: no tensors given");
  const Tensor<T>& first = xs[0];
  dim = wrap_dim(dim, first.dim());
  Shape shape = first.shape();
  shape[size_t(dim)] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < xs.size(); ++i) {
    ONENIP_CHECK(xs[i].dim() == first.dim(), "cat: tensor ", i, " has shape ", shape_str(xs[i].shape()),
                 ", tensor 0 has ", shape_str(first.shape()));
    for (int64_t d = 0; d < first.dim(); ++d)
      ONENIP_CHECK(d == dim || xs[i].shape()[size_t(d)] == first.shape()[size_t(d)], "cat along dim ", dim,
                   ": tensor ", i, " has shape ", shape_str(xs[i].shape()), ", tensor 0 has ",
                   shape_str(first.shape()));
    sizes.push_back(xs[i].shape()[size_t(dim)]);
    shape[size_t(dim)] += sizes.back();
  }
  Tensor<T> out = Tensor<T>::empty(shape, first.device());
  int64_t at = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    copy_strided(xs[i].detach(), out.detach().narrow(dim, at, sizes[i]));
    at += sizes[i];
  }
  return record<T>(out, "Cat", xs, [dim, sizes](const Tensor<T>& g) {
    std::vector<Tensor<T>> gs;
    int64_t off = 0;
    for (int64_t s : sizes) {
      gs.push_back(g.narrow(dim, off, s));
      off += s;
    }
    return gs;
  });
}

/// Stack along a new dim.
template <typename T>
Tensor<T> stack(const std::vector<Tensor<T>>& xs, int64_t dim = 0) {
  ONENIP_CHECK(!xs.empty(), "stack: no tensors given");
  std::vector<Tensor<T>> us;
  for (size_t i = 0; i < xs.size(); ++i) {
    ONENIP_CHECK(xs[i].shape() == xs[0].shape(), "stack: tensor ", i, " has shape ", shape_str(xs[i].shape()),
                 ", tensor 0 has ", shape_str(xs[0].shape()));
    us.push_back(xs[i].unsqueeze(dim));
  }
  return cat(us, wrap_dim(dim, xs[0].dim() + 1));
}

/// Views of `size` along dim (the last may be shorter).
template <typename T>
std::vector<Tensor<T>> split(const Tensor<T>& a, int64_t size, int64_t dim = 0) {
  ONENIP_CHECK(size > 0, "split: size must be positive, got ", size);
  dim = wrap_dim(dim, a.dim());
  std::vector<Tensor<T>> parts;
  for (int64_t s = 0; s < a.shape()[size_t(dim)]; s += size)
    parts.push_back(a.narrow(dim, s, std::min(size, a.shape()[size_t(dim)] - s)));
  return parts;
}

template <typename T>
std::vector<Tensor<T>> chunk(const Tensor<T>& a, int64_t chunks, int64_t dim = 0) {
  int64_t n = a.size(dim);
  return split(a, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

namespace detail {
// a viewed as [outer, a.size(dim), inner] around `dim`.
inline std::array<int64_t, 3> around_dim(const Shape& shape, int64_t dim) {
  std::array<int64_t, 3> r{1, shape[size_t(dim)], 1};
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    if (i < dim) r[0] *= shape[size_t(i)];
    if (i > dim) r[2] *= shape[size_t(i)];
  }
  return r;
}
}  // namespace detail

/// Rows of `a` along `dim` picked by `index` (repeats allowed; gradients add up).
template <typename T>
Tensor<T> index_select(const Tensor<T>& a, int64_t dim, const std::vector<int64_t>& index) {
  dim = wrap_dim(dim, a.dim());
  int64_t n = a.shape()[size_t(dim)];
  for (int64_t i : index)
    ONENIP_CHECK(i >= 0 && i < n, "index_select: index ", i, " out of range for dim ", dim, " of size ", n);
  Shape shape = a.shape();
  shape[size_t(dim)] = int64_t(index.size());
  Tensor<T> ac = a.detach().contiguous(), out = Tensor<T>::empty(shape, a.device());
  const auto [outer, len, inner] = detail::around_dim(a.shape(), dim);
  kernels::index_select<T>(
      {a.device(), outer, len, inner, int64_t(index.size()), index.data(), ac.data_ptr(), out.data_ptr()});
  Shape in_shape = a.shape();
  // init-captures: clang before 16 cannot capture structured bindings by name
  return record<T>(out, "IndexSelect", {a}, [in_shape, outer = outer, len = len, inner = inner, index](const Tensor<T>& g) {
    Tensor<T> gi = zeros<T>(in_shape, g.device()), gc = g.contiguous();
    kernels::index_add<T>({g.device(), outer, len, inner, int64_t(index.size()), index.data(), gi.data_ptr(), gc.data_ptr()});
    return std::vector<Tensor<T>>{gi};
  });
}

/// out[i][j] = a[i][index[i][j]] for dim = 1 (PyTorch's gather, any rank): `index` has the
/// output's shape, values along `dim`.
template <typename T>
Tensor<T> gather(const Tensor<T>& a, int64_t dim, const IndexTensor& index) {
  dim = wrap_dim(dim, a.dim());
  ONENIP_CHECK(int64_t(index.shape.size()) == a.dim(), "gather: index rank ", index.shape.size(),
               " differs from input rank ", a.dim());
  const int64_t n = a.shape()[size_t(dim)];
  for (int64_t i : index.values)
    ONENIP_CHECK(i >= 0 && i < n, "gather: index ", i, " out of range for dim ", dim, " of size ", n);
  Tensor<T> ac = a.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(index.shape, a.device());
  kernels::gather<T>({a.device(), index.shape, ac.strides(), dim, index.values.data(), ac.data_ptr(), out.data_ptr()});
  Shape in_shape = a.shape();
  return record<T>(out, "Gather", {a}, [in_shape, index, dim](const Tensor<T>& g) {
    Tensor<T> gi = zeros<T>(in_shape, g.device()), gc = g.contiguous();
    kernels::scatter_add<T>({g.device(), index.shape, gi.strides(), dim, index.values.data(), gi.data_ptr(), gc.data_ptr()});
    return std::vector<Tensor<T>>{gi};
  });
}

}  // namespace onenip

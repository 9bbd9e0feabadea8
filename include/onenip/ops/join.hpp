// Joining and indexing: cat, stack, split, chunk, index_select, gather.
#pragma once

#include "reduce.hpp"

namespace onenip {

// Concatenate along `dim`; all other dims must agree.
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
  Tensor<T> out = Tensor<T>::empty(shape);
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

// Stack along a new dim.
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

// Views of `size` along dim (the last may be shorter).
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

// Rows of `a` along `dim` picked by `index` (repeats allowed; gradients add up).
template <typename T>
Tensor<T> index_select(const Tensor<T>& a, int64_t dim, const std::vector<int64_t>& index) {
  dim = wrap_dim(dim, a.dim());
  int64_t n = a.shape()[size_t(dim)];
  for (int64_t i : index)
    ONENIP_CHECK(i >= 0 && i < n, "index_select: index ", i, " out of range for dim ", dim, " of size ", n);
  Shape shape = a.shape();
  shape[size_t(dim)] = int64_t(index.size());
  Tensor<T> out = Tensor<T>::empty(shape);
  for (size_t k = 0; k < index.size(); ++k)
    copy_strided(a.detach().select(dim, index[k]), out.detach().select(dim, int64_t(k)));
  Shape in_shape = a.shape();
  return record<T>(out, "IndexSelect", {a}, [in_shape, dim, index](const Tensor<T>& g) {
    Tensor<T> gi = zeros<T>(in_shape);
    for (size_t k = 0; k < index.size(); ++k) {
      Tensor<T> dst = gi.select(dim, index[k]);
      apply_inplace(dst, g.select(dim, int64_t(k)), [](T x, T y) { return x + y; });
    }
    return std::vector<Tensor<T>>{gi};
  });
}

// out[i][j] = a[i][index[i][j]] for dim = 1 (PyTorch's gather, any rank): `index` has the
// output's shape, values along `dim`.
template <typename T>
Tensor<T> gather(const Tensor<T>& a, int64_t dim, const IndexTensor& index) {
  dim = wrap_dim(dim, a.dim());
  ONENIP_CHECK(int64_t(index.shape.size()) == a.dim(), "gather: index rank ", index.shape.size(),
               " differs from input rank ", a.dim());
  Tensor<T> ac = a.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(index.shape);
  Shape ist = contiguous_strides(index.shape), ast = ac.strides(), in_shape = a.shape();
  // Offset in the (contiguous) input of output element `flat`; copies what it reads so the
  // backward can keep it.
  auto src_offset = [ist, ast, in_shape, index, dim](int64_t flat) {
    int64_t off = 0;
    for (int64_t d = 0; d < int64_t(in_shape.size()); ++d) {
      int64_t i = (flat / ist[size_t(d)]) % index.shape[size_t(d)];
      if (d == dim) {
        i = index.values[size_t(flat)];
        ONENIP_CHECK(i >= 0 && i < in_shape[size_t(d)], "gather: index ", i, " out of range for dim ", d,
                     " of size ", in_shape[size_t(d)]);
      }
      off += i * ast[size_t(d)];
    }
    return off;
  };
  for (int64_t f = 0; f < out.numel(); ++f) out.data()[f] = ac.data()[src_offset(f)];
  return record<T>(out, "Gather", {a}, [in_shape, src_offset](const Tensor<T>& g) {
    Tensor<T> gi = zeros<T>(in_shape);
    Tensor<T> gc = g.contiguous();
    for (int64_t f = 0; f < gc.numel(); ++f) gi.data()[src_offset(f)] += gc.data()[f];
    return std::vector<Tensor<T>>{gi};
  });
}

}  // namespace onenip

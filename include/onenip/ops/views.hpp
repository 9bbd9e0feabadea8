/// \file
/// Views: new shape/strides/offset over the same storage, no copy. Each is differentiable.
/// contiguous() and clone() copy; reshape() copies only when a view is impossible.
#pragma once

#include <algorithm>

#include "../autograd.hpp"
#include "../core/broadcast.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/memory.hpp"

namespace onenip {

template <typename T> Tensor<T> sum_to(const Tensor<T>& g, const Shape& shape);
template <typename T> void copy_strided(const Tensor<T>& src, const Tensor<T>& dst);

namespace detail {
template <typename T>
Tensor<T> make_view(const Tensor<T>& base, Shape shape, Shape strides, int64_t offset) {
  return Tensor<T>::from_storage(base.storage(), std::move(shape), std::move(strides), offset);
}

// Resolve one -1 in a requested shape against numel.
inline Shape infer_shape(Shape shape, int64_t numel, const Shape& from) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      ONENIP_CHECK(infer < 0, "view ", shape_str(shape), ": only one dimension can be -1");
      infer = int64_t(i);
    } else {
      ONENIP_CHECK(shape[i] >= 0, "view ", shape_str(shape), ": negative dimension");
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ONENIP_CHECK(known > 0 && numel % known == 0, "shape ", shape_str(shape), " is invalid for ",
                 shape_str(from), " (", numel, " elements)");
    shape[size_t(infer)] = numel / known;
  }
  ONENIP_CHECK(numel_of(shape) == numel, "shape ", shape_str(shape), " is invalid for a tensor of shape ",
               shape_str(from), " (", numel, " elements)");
  return shape;
}
}  // namespace detail

template <typename T>
Tensor<T> Tensor<T>::view(const Shape& requested) const {
  Shape s = detail::infer_shape(requested, numel(), shape());
  ONENIP_CHECK(is_contiguous(), "view ", shape_str(s), " of a non-contiguous tensor of shape ", shape_str(shape()),
               " and strides ", shape_str(strides()), "; use reshape() (copies) or contiguous() first");
  Shape in_shape = shape();
  Tensor<T> out = detail::make_view(*this, s, contiguous_strides(s), offset());
  return record<T>(out, "View", {*this}, [in_shape](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{g.reshape(in_shape)};
  });
}

template <typename T>
Tensor<T> Tensor<T>::reshape(const Shape& requested) const {
  return is_contiguous() ? view(requested) : contiguous().view(requested);
}

template <typename T>
Tensor<T> Tensor<T>::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten start");
  end = wrap_dim(end, dim(), "flatten end");
  ONENIP_CHECK(start <= end, "flatten: start dim ", start, " after end dim ", end);
  Shape s(shape().begin(), shape().begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= shape()[size_t(i)];
  s.push_back(m);
  s.insert(s.end(), shape().begin() + end + 1, shape().end());
  return reshape(s);
}

template <typename T>
Tensor<T> Tensor<T>::permute(const Shape& dims) const {
  ONENIP_CHECK(int64_t(dims.size()) == dim(), "permute: ", dims.size(), " dims given for a tensor of rank ", dim());
  Shape s(dims.size()), st(dims.size()), inverse(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_dim(dims[i], dim(), "permute dim");
    ONENIP_CHECK(!seen[size_t(d)], "permute: dim ", d, " repeated in ", shape_str(dims));
    seen[size_t(d)] = true;
    s[i] = shape()[size_t(d)];
    st[i] = strides()[size_t(d)];
    inverse[size_t(d)] = int64_t(i);
  }
  Tensor<T> out = detail::make_view(*this, s, st, offset());
  return record<T>(out, "Permute", {*this}, [inverse](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{g.permute(inverse)};
  });
}

template <typename T>
Tensor<T> Tensor<T>::transpose(int64_t d0, int64_t d1) const {
  Shape p(static_cast<size_t>(this->dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[size_t(wrap_dim(d0, dim()))], p[size_t(wrap_dim(d1, dim()))]);
  return permute(p);
}

template <typename T>
Tensor<T> Tensor<T>::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim());
  int64_t n = shape()[size_t(d)];
  ONENIP_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[size_t(d)] = (end - start + step - 1) / step;
  st[size_t(d)] *= step;
  Tensor<T> out = detail::make_view(*this, s, st, offset() + start * strides()[size_t(d)]);
  Shape in_shape = shape();
  return record<T>(out, "Slice", {*this}, [in_shape, d, start, end, step](const Tensor<T>& g) {
    Tensor<T> gi = Tensor<T>::empty(in_shape, g.device());
    gi.zero_();
    copy_strided(g, gi.slice(d, start, end, step));
    return std::vector<Tensor<T>>{gi};
  });
}

template <typename T>
Tensor<T> Tensor<T>::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim());
  ONENIP_CHECK(start >= 0 && length >= 0 && start + length <= shape()[size_t(d)], "narrow: [", start, ", ",
               start + length, ") is outside dim ", d, " of size ", shape()[size_t(d)]);
  return slice(d, start, start + length);
}

template <typename T>
Tensor<T> Tensor<T>::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim());
  int64_t n = shape()[size_t(d)];
  if (index < 0) index += n;
  ONENIP_CHECK(index >= 0 && index < n, "select: index ", index, " out of range for dim ", d, " of size ", n);
  return narrow(d, index, 1).squeeze(d);
}

template <typename T>
Tensor<T> Tensor<T>::expand(const Shape& target) const {
  ONENIP_CHECK(target.size() >= shape().size(), "expand: target ", shape_str(target), " has lower rank than ",
               shape_str(shape()));
  Shape t = target;
  size_t lead = t.size() - shape().size();
  for (size_t i = 0; i < shape().size(); ++i)
    if (t[i + lead] == -1) t[i + lead] = shape()[i];
  Shape st = broadcast_strides(shape(), strides(), t);
  Tensor<T> out = detail::make_view(*this, t, st, offset());
  Shape in_shape = shape();
  return record<T>(out, "Expand", {*this}, [in_shape](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(g, in_shape)};
  });
}

template <typename T>
Tensor<T> Tensor<T>::squeeze(int64_t d) const {
  d = wrap_dim(d, dim());
  if (shape()[size_t(d)] != 1) return *this;
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  Tensor<T> out = detail::make_view(*this, s, st, offset());
  return record<T>(out, "Squeeze", {*this}, [d](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{g.unsqueeze(d)};
  });
}

template <typename T>
Tensor<T> Tensor<T>::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1);
  Shape s = shape(), st = strides();
  int64_t stride = d < dim() ? strides()[size_t(d)] * shape()[size_t(d)] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  Tensor<T> out = detail::make_view(*this, s, st, offset());
  return record<T>(out, "Unsqueeze", {*this}, [d](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{g.squeeze(d)};
  });
}

/// Copy the elements of src into dst (same shape, same device, any strides). Not recorded.
template <typename T>
void copy_strided(const Tensor<T>& src, const Tensor<T>& dst) {
  ONENIP_CHECK(src.shape() == dst.shape(), "copy: source shape ", shape_str(src.shape()),
               " does not match destination shape ", shape_str(dst.shape()));
  kernels::PointwiseProblem<T, 2> p;
  p.device = kernels::common_device<T>("copy", {&dst, &src});
  p.shape = dst.shape();
  p.strides = {dst.strides(), src.strides()};
  p.data = {dst.data_ptr(), src.data_ptr()};
  kernels::pointwise(p, fn::Identity{});
}

template <typename T>
Tensor<T> Tensor<T>::clone() const {
  Tensor<T> out = Tensor<T>::empty(shape(), device());
  copy_strided(*this, out);
  return record<T>(out, "Clone", {*this}, [](const Tensor<T>& g) { return std::vector<Tensor<T>>{g}; });
}

template <typename T>
Tensor<T> Tensor<T>::contiguous() const {
  return is_contiguous() ? *this : clone();
}

template <typename T>
Tensor<T> Tensor<T>::to(Device target) const {
  const Device from = device();
  if (from == target) return *this;
  Tensor<T> src = contiguous().detach();
  Tensor<T> out = Tensor<T>::empty(shape(), target);
  kernels::transfer({from, target, src.data_ptr(), out.data_ptr(), size_t(numel()) * sizeof(T)});
  return record<T>(out, "To", {*this}, [from](const Tensor<T>& g) { return std::vector<Tensor<T>>{g.to(from)}; });
}

}  // namespace onenip

/// \file
/// softmax and log_softmax along one dim (kernels/softmax.hpp): one fused pass per row and a
/// hand-written backward that needs only the output.
///
/// A row whose entries are all -inf (an attention row with every key masked) gives 0 from
/// softmax (with zero gradient) and -inf from log_softmax; PyTorch gives NaN there. The fused
/// attention uses the same convention, so it and its composite reference agree.
#pragma once

#include "../kernels/softmax.hpp"
#include "elementwise.hpp"

namespace onenip {

namespace detail {

// A contiguous tensor seen as [outer, len, inner], reduced along len.
struct RowsLayout {
  int64_t outer = 1, len = 1, inner = 1;
};
inline RowsLayout rows_layout(const Shape& shape, int64_t dim) {
  RowsLayout r;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    if (i < dim) r.outer *= shape[size_t(i)];
    else if (i == dim) r.len = shape[size_t(i)];
    else r.inner *= shape[size_t(i)];
  }
  return r;
}

template <typename T, bool Log>
Tensor<T> softmax_impl(const Tensor<T>& x, int64_t dim, const char* name) {
  int64_t d = wrap_dim(dim, x.dim());
  Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  RowsLayout r = rows_layout(shape, d);
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
  if (x.numel() > 0) kernels::softmax<T>({x.device(), r.outer, r.len, r.inner, Log, xc.data_ptr(), out.data_ptr()});
  if (!any_requires_grad<T>({&x})) return out;
  SavedTensor<T> saved(out.detach(), name);
  return record<T>(out, name, {x}, [saved, r](const Tensor<T>& g) {
    Tensor<T> y = saved.get(), gc = g.contiguous();
    Tensor<T> dx = Tensor<T>::empty(y.shape(), y.device());
    if (y.numel() > 0)
      kernels::softmax_backward<T>(
          {y.device(), r.outer, r.len, r.inner, Log, y.data_ptr(), gc.data_ptr(), dx.data_ptr()});
    return std::vector<Tensor<T>>{dx};
  });
}

}  // namespace detail

/// exp(x - max) / sum(exp(x - max)) along `dim`.
template <typename T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, false>(x, dim, "Softmax");
}

/// x - max - log(sum(exp(x - max))) along `dim`.
template <typename T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, true>(x, dim, "LogSoftmax");
}

}  // namespace onenip

// softmax and log_softmax along one dim: one fused pass per row (max, exp-sum, normalise) and
// a hand-written backward that needs only the output.
//
// A row whose entries are all -inf (an attention row with every key masked) gives 0 from
// softmax (with zero gradient) and -inf from log_softmax; PyTorch gives NaN there. The fused
// attention uses the same convention, so it and its composite reference agree.
#pragma once

#include <Eigen/Core>
#include <limits>

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

template <typename T> using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T> using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using PanelMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using ConstPanelMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// Shift that keeps exp() finite: the max, or 0 when everything is -inf.
template <typename T> T safe_max(T m) { return m == -std::numeric_limits<T>::infinity() ? T(0) : m; }

// y = exp(x - shift) over n elements, exactly 0 where x = -inf. (Eigen's vectorised exp clamps
// its argument and returns a tiny positive number for -inf, which would turn a fully masked row
// into a uniform one.) x and y must not alias.
template <typename T>
void exp_masked(const T* x, T* y, int64_t n, T shift) {
  ArrayMap<T>(y, n) = (ConstArrayMap<T>(x, n) - shift).exp();
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < n; ++j) y[j] = x[j] == ninf ? T(0) : y[j];
}

// Forward over one [len, inner] panel (inner == 1: one row). Columns are independent rows.
template <typename T, bool Log>
void softmax_panel(const T* x, T* y, int64_t len, int64_t inner) {
  const T inf = std::numeric_limits<T>::infinity();
  if (inner == 1) {
    ConstArrayMap<T> xr(x, len);
    ArrayMap<T> yr(y, len);
    T m = xr.maxCoeff();
    if (m == -inf) {  // every entry -inf
      yr.setConstant(Log ? -inf : T(0));
    } else if constexpr (Log) {
      yr = xr - (m + std::log((xr - m).exp().sum()));
    } else {
      exp_masked(x, y, len, m);
      yr *= T(1) / yr.sum();
    }
    return;
  }
  ConstPanelMap<T> X(x, len, inner);
  PanelMap<T> Y(y, len, inner);
  Eigen::Array<T, 1, Eigen::Dynamic> m = X.colwise().maxCoeff(), shift = m.unaryExpr([](T v) { return safe_max(v); });
  Y = (X.rowwise() - shift).exp();
  for (int64_t j = 0; j < len * inner; ++j) y[j] = x[j] == -inf ? T(0) : y[j];
  Eigen::Array<T, 1, Eigen::Dynamic> s = Y.colwise().sum();
  if constexpr (Log) {
    for (int64_t c = 0; c < inner; ++c) m[c] = m[c] == -inf ? inf : m[c] + std::log(s[c]);
    Y = X.rowwise() - m;
  } else {
    Y.rowwise() *= s.unaryExpr([](T v) { return v > T(0) ? T(1) / v : T(0); });
  }
}

// Backward over one panel: softmax dx = y * (g - sum(g y)); log_softmax dx = g - exp(y) sum(g).
template <typename T, bool Log>
void softmax_backward_panel(const T* y, const T* g, T* dx, int64_t len, int64_t inner) {
  if (inner == 1) {
    ConstArrayMap<T> yr(y, len), gr(g, len);
    ArrayMap<T> dr(dx, len);
    if constexpr (Log) dr = gr - yr.exp() * gr.sum();
    else dr = yr * (gr - (gr * yr).sum());
    return;
  }
  ConstPanelMap<T> Y(y, len, inner), G(g, len, inner);
  PanelMap<T> DX(dx, len, inner);
  if constexpr (Log) {
    DX = G - Y.exp().rowwise() * G.colwise().sum();
  } else {
    Eigen::Array<T, 1, Eigen::Dynamic> dot = (G * Y).colwise().sum();
    DX = Y * (G.rowwise() - dot);
  }
}

// Run `panel(offset)` over every [len, inner] panel in parallel.
template <typename F>
void for_each_panel(const RowsLayout& r, F&& panel) {
  int64_t panel_size = r.len * r.inner;
  parallel_for(r.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(panel_size, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) panel(o * panel_size);
  });
}

template <typename T, bool Log>
Tensor<T> softmax_impl(const Tensor<T>& x, int64_t dim, const char* name) {
  int64_t d = wrap_dim(dim, x.dim());
  Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  RowsLayout r = rows_layout(shape, d);
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape());
  if (x.numel() > 0) {
    const T* xp = xc.data();
    T* yp = out.data();
    for_each_panel(r, [&](int64_t off) { softmax_panel<T, Log>(xp + off, yp + off, r.len, r.inner); });
  }
  if (!any_requires_grad<T>({&x})) return out;
  SavedTensor<T> saved(out.detach(), name);
  return record<T>(out, name, {x}, [saved, r](const Tensor<T>& g) {
    Tensor<T> y = saved.get(), gc = g.contiguous();
    Tensor<T> dx = Tensor<T>::empty(y.shape());
    if (y.numel() > 0) {
      const T* yp = y.data();
      const T* gp = gc.data();
      T* dp = dx.data();
      for_each_panel(r, [&](int64_t off) { softmax_backward_panel<T, Log>(yp + off, gp + off, dp + off, r.len, r.inner); });
    }
    return std::vector<Tensor<T>>{dx};
  });
}

}  // namespace detail

// exp(x - max) / sum(exp(x - max)) along `dim`.
template <typename T>
Tensor<T> softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, false>(x, dim, "Softmax");
}

// x - max - log(sum(exp(x - max))) along `dim`.
template <typename T>
Tensor<T> log_softmax(const Tensor<T>& x, int64_t dim) {
  return detail::softmax_impl<T, true>(x, dim, "LogSoftmax");
}

}  // namespace onenip

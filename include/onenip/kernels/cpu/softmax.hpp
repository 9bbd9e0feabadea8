// CPU softmax and log_softmax: one fused pass per row (max, exp-sum, normalise) on Eigen arrays,
// and the backward from the output alone. exp_masked is shared with the fused attention.
#pragma once

#include <Eigen/Core>
#include <limits>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

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
template <typename P, typename F>
void for_each_panel(const P& r, F&& panel) {
  int64_t panel_size = r.len * r.inner;
  parallel_for(r.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(panel_size, 1)), [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) panel(o * panel_size);
  });
}

template <typename T>
void softmax(const SoftmaxProblem<T>& p) {
  for_each_panel(p, [&](int64_t off) {
    if (p.log) softmax_panel<T, true>(p.x + off, p.y + off, p.len, p.inner);
    else softmax_panel<T, false>(p.x + off, p.y + off, p.len, p.inner);
  });
}

template <typename T>
void softmax_backward(const SoftmaxBackwardProblem<T>& p) {
  for_each_panel(p, [&](int64_t off) {
    if (p.log) softmax_backward_panel<T, true>(p.y + off, p.g + off, p.dx + off, p.len, p.inner);
    else softmax_backward_panel<T, false>(p.y + off, p.g + off, p.dx + off, p.len, p.inner);
  });
}

}  // namespace onenip::kernels::cpu

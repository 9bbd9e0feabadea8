// Elementwise arithmetic with broadcasting, its gradients, and the in-place methods.
#pragma once

#include <cmath>

#include "creation.hpp"

namespace onenip {

// ---- kernels (no autograd) ----

// out[i] = f(a[i]); `a` may have any strides; out is contiguous.
template <typename T, typename F>
Tensor<T> map_unary(const Tensor<T>& a, F f) {
  Tensor<T> out = Tensor<T>::empty(a.shape());
  for_each_row<T, 2>(a.shape(), {out.strides(), a.strides()}, {out.data(), a.data()},
                     [&](std::array<T*, 2> p, int64_t n, std::array<int64_t, 2> s) {
                       if (s[1] == 1) {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i * s[1]]);
                       }
                     });
  return out;
}

// out = f(a, b) with broadcasting; out is contiguous.
template <typename T, typename F>
Tensor<T> map_binary(const Tensor<T>& a, const Tensor<T>& b, F f) {
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  Tensor<T> out = Tensor<T>::empty(shape);
  for_each_row<T, 3>(shape,
                     {out.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                      broadcast_strides(b.shape(), b.strides(), shape)},
                     {out.data(), a.data(), b.data()},
                     [&](std::array<T*, 3> p, int64_t n, std::array<int64_t, 3> s) {
                       if (s[1] == 1 && s[2] == 1) {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i], p[2][i]);
                       } else if (s[1] == 1 && s[2] == 0) {
                         const T bv = *p[2];
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i], bv);
                       } else {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i * s[1]], p[2][i * s[2]]);
                       }
                     });
  return out;
}

// out = f(a, b, c) with broadcasting (used by backward formulas that need three operands).
template <typename T, typename F>
Tensor<T> map_ternary(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& c, F f) {
  Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape()), c.shape());
  Tensor<T> out = Tensor<T>::empty(shape);
  for_each_row<T, 4>(shape,
                     {out.strides(), broadcast_strides(a.shape(), a.strides(), shape),
                      broadcast_strides(b.shape(), b.strides(), shape),
                      broadcast_strides(c.shape(), c.strides(), shape)},
                     {out.data(), a.data(), b.data(), c.data()},
                     [&](std::array<T*, 4> p, int64_t n, std::array<int64_t, 4> s) {
                       for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[1][i * s[1]], p[2][i * s[2]], p[3][i * s[3]]);
                     });
  return out;
}

// In place: a = f(a, b), b broadcast to a's shape.
template <typename T, typename F>
void apply_inplace(const Tensor<T>& a, const Tensor<T>& b, F f) {
  for_each_row<T, 2>(a.shape(), {a.strides(), broadcast_strides(b.shape(), b.strides(), a.shape())},
                     {a.data(), b.data()}, [&](std::array<T*, 2> p, int64_t n, std::array<int64_t, 2> s) {
                       if (s[0] == 1 && s[1] == 1) {
                         for (int64_t i = 0; i < n; ++i) p[0][i] = f(p[0][i], p[1][i]);
                       } else {
                         for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = f(p[0][i * s[0]], p[1][i * s[1]]);
                       }
                     });
  a.bump_version();
}

// Copy into another scalar type. Not differentiable (each scalar type has its own graph).
template <typename U, typename T>
Tensor<U> cast(const Tensor<T>& a) {
  Tensor<T> c = a.contiguous();
  Tensor<U> out = Tensor<U>::empty(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) out.data()[i] = U(c.data()[i]);
  return out;
}

// ---- differentiable binary ops ----

template <typename T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x + y; });
  Shape sa = a.shape(), sb = b.shape();
  return record<T>(out, "Add", {a, b}, [sa, sb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(g, sb)};
  });
}

template <typename T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x - y; });
  Shape sa = a.shape(), sb = b.shape();
  return record<T>(out, "Sub", {a, b}, [sa, sb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(map_unary(g, [](T x) { return -x; }), sb)};
  });
}

template <typename T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x * y; });
  bool ga = any_requires_grad<T>({&a}), gb = any_requires_grad<T>({&b});
  SavedTensor<T> sa(gb ? a : Tensor<T>(), "Mul"), sb(ga ? b : Tensor<T>(), "Mul");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Mul", {a, b}, [sa, sb, sha, shb, ga, gb](const Tensor<T>& g) {
    auto times = [](T x, T y) { return x * y; };
    return std::vector<Tensor<T>>{ga ? sum_to(map_binary(g, sb.get(), times), sha) : Tensor<T>(),
                                  gb ? sum_to(map_binary(g, sa.get(), times), shb) : Tensor<T>()};
  });
}

template <typename T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x / y; });
  bool gb = any_requires_grad<T>({&b});
  SavedTensor<T> sa(gb ? a : Tensor<T>(), "Div"), sb(b, "Div");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Div", {a, b}, [sa, sb, sha, shb, gb](const Tensor<T>& g) {
    Tensor<T> ga = sum_to(map_binary(g, sb.get(), [](T x, T y) { return x / y; }), sha);
    Tensor<T> gbt;
    if (gb) gbt = sum_to(map_ternary(g, sa.get(), sb.get(), [](T gg, T x, T y) { return -gg * x / (y * y); }), shb);
    return std::vector<Tensor<T>>{ga, gbt};
  });
}

// Elementwise max / min; the gradient goes to the larger (smaller) input, to `a` on ties.
template <typename T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x >= y ? x : y; });
  SavedTensor<T> sa(a, "Maximum"), sb(b, "Maximum");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Maximum", {a, b}, [sa, sb, sha, shb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{
        sum_to(map_ternary(g, sa.get(), sb.get(), [](T gg, T x, T y) { return x >= y ? gg : T(0); }), sha),
        sum_to(map_ternary(g, sa.get(), sb.get(), [](T gg, T x, T y) { return x >= y ? T(0) : gg; }), shb)};
  });
}

template <typename T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = map_binary(a, b, [](T x, T y) { return x <= y ? x : y; });
  SavedTensor<T> sa(a, "Minimum"), sb(b, "Minimum");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Minimum", {a, b}, [sa, sb, sha, shb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{
        sum_to(map_ternary(g, sa.get(), sb.get(), [](T gg, T x, T y) { return x <= y ? gg : T(0); }), sha),
        sum_to(map_ternary(g, sa.get(), sb.get(), [](T gg, T x, T y) { return x <= y ? T(0) : gg; }), shb)};
  });
}

// ---- differentiable unary ops ----

// A unary op whose derivative is a function of (input x, output y): dy/dx = d(x, y).
template <typename T, typename F, typename D>
Tensor<T> unary_op(const Tensor<T>& a, const char* name, F f, D d) {
  Tensor<T> out = map_unary(a, f);
  if (!any_requires_grad<T>({&a})) return out;
  SavedTensor<T> sa(a, name), so(out.detach(), name);
  return record<T>(out, name, {a}, [sa, so, d](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{map_ternary(g, sa.get(), so.get(), [d](T gg, T x, T y) { return gg * d(x, y); })};
  });
}

template <typename T> Tensor<T> neg(const Tensor<T>& a) {
  return unary_op(a, "Neg", [](T x) { return -x; }, [](T, T) { return T(-1); });
}
template <typename T> Tensor<T> exp(const Tensor<T>& a) {
  return unary_op(a, "Exp", [](T x) { return std::exp(x); }, [](T, T y) { return y; });
}
template <typename T> Tensor<T> log(const Tensor<T>& a) {
  return unary_op(a, "Log", [](T x) { return std::log(x); }, [](T x, T) { return T(1) / x; });
}
template <typename T> Tensor<T> sqrt(const Tensor<T>& a) {
  return unary_op(a, "Sqrt", [](T x) { return std::sqrt(x); }, [](T, T y) { return T(0.5) / y; });
}
template <typename T> Tensor<T> abs(const Tensor<T>& a) {
  return unary_op(a, "Abs", [](T x) { return std::abs(x); },
                  [](T x, T) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); });
}
template <typename T> Tensor<T> square(const Tensor<T>& a) {
  return unary_op(a, "Square", [](T x) { return x * x; }, [](T x, T) { return T(2) * x; });
}
template <typename T> Tensor<T> pow(const Tensor<T>& a, T p) {
  return unary_op(a, "Pow", [p](T x) { return std::pow(x, p); },
                  [p](T x, T) { return p * std::pow(x, p - T(1)); });
}
template <typename T> Tensor<T> clamp(const Tensor<T>& a, T lo, T hi) {
  return unary_op(a, "Clamp", [lo, hi](T x) { return std::min(std::max(x, lo), hi); },
                  [lo, hi](T x, T) { return (x >= lo && x <= hi) ? T(1) : T(0); });
}

// Scalar forms: a + s, a * s.
template <typename T> Tensor<T> add(const Tensor<T>& a, T s) {
  return unary_op(a, "AddScalar", [s](T x) { return x + s; }, [](T, T) { return T(1); });
}
template <typename T> Tensor<T> mul(const Tensor<T>& a, T s) {
  return unary_op(a, "MulScalar", [s](T x) { return x * s; }, [s](T, T) { return s; });
}

// ---- operators ----
template <typename T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <typename T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <typename T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <typename T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <typename T> Tensor<T> operator-(const Tensor<T>& a) { return neg(a); }
template <typename T> Tensor<T> operator+(const Tensor<T>& a, T s) { return add(a, s); }
template <typename T> Tensor<T> operator+(T s, const Tensor<T>& a) { return add(a, s); }
template <typename T> Tensor<T> operator-(const Tensor<T>& a, T s) { return add(a, -s); }
template <typename T> Tensor<T> operator-(T s, const Tensor<T>& a) { return add(neg(a), s); }
template <typename T> Tensor<T> operator*(const Tensor<T>& a, T s) { return mul(a, s); }
template <typename T> Tensor<T> operator*(T s, const Tensor<T>& a) { return mul(a, s); }
template <typename T> Tensor<T> operator/(const Tensor<T>& a, T s) { return mul(a, T(1) / s); }

// ---- in-place methods (not recorded: use under NoGradGuard or on leaves' data) ----
template <typename T>
Tensor<T>& Tensor<T>::fill_(T value) {
  for_each_row<T, 1>(shape(), {strides()}, {data()}, [&](std::array<T*, 1> p, int64_t n, std::array<int64_t, 1> s) {
    for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] = value;
  });
  bump_version();
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::copy_(const Tensor<T>& src) {
  apply_inplace(*this, src, [](T, T y) { return y; });
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::add_(const Tensor<T>& other, T alpha) {
  apply_inplace(*this, other, [alpha](T x, T y) { return x + alpha * y; });
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::mul_(T value) {
  for_each_row<T, 1>(shape(), {strides()}, {data()}, [&](std::array<T*, 1> p, int64_t n, std::array<int64_t, 1> s) {
    for (int64_t i = 0; i < n; ++i) p[0][i * s[0]] *= value;
  });
  bump_version();
  return *this;
}

}  // namespace onenip

/// \file
/// Elementwise arithmetic with broadcasting, its gradients, and the in-place methods.
#pragma once

#include <cmath>

#include "../kernels/elementwise.hpp"
#include "creation.hpp"

namespace onenip {

// ---- pointwise maps (no autograd) ----
// f is a functor from kernels/functors.hpp (or, on the CPU only, any callable, e.g. a lambda).

namespace detail {

// out (any strides) = f(ins...), each input broadcast to out's shape; `op` names the caller in
// errors. All tensors must be on one device.
template <typename T, typename F, typename... In>
void pointwise_into(const char* op, const Tensor<T>& out, const F& f, const In&... ins) {
  kernels::PointwiseProblem<T, 1 + sizeof...(In)> p;
  p.device = kernels::common_device<T>(op, {&out, &ins...});
  p.shape = out.shape();
  p.strides = {out.strides(), broadcast_strides(ins.shape(), ins.strides(), out.shape())...};
  p.data = {out.data_ptr(), ins.data_ptr()...};
  kernels::pointwise(p, f);
}

// A new contiguous tensor f(ins...) of the inputs' broadcast shape.
template <typename T, typename F, typename... In>
Tensor<T> pointwise_new(const char* op, const F& f, const Tensor<T>& first, const In&... rest) {
  Shape shape = first.shape();
  ((shape = broadcast_shapes(shape, rest.shape())), ...);
  Tensor<T> out = Tensor<T>::empty(shape, first.device());
  pointwise_into(op, out, f, first, rest...);
  return out;
}

}  // namespace detail

/// out[i] = f(a[i]); `a` may have any strides; out is contiguous.
template <typename T, typename F>
Tensor<T> map_unary(const Tensor<T>& a, F f) {
  return detail::pointwise_new("map_unary", f, a);
}

/// out = f(a, b) with broadcasting; out is contiguous.
template <typename T, typename F>
Tensor<T> map_binary(const Tensor<T>& a, const Tensor<T>& b, F f) {
  return detail::pointwise_new("map_binary", f, a, b);
}

/// out = f(a, b, c) with broadcasting (used by backward formulas that need three operands).
template <typename T, typename F>
Tensor<T> map_ternary(const Tensor<T>& a, const Tensor<T>& b, const Tensor<T>& c, F f) {
  return detail::pointwise_new("map_ternary", f, a, b, c);
}

/// In place: a = f(a, b), b broadcast to a's shape.
template <typename T, typename F>
void apply_inplace(const Tensor<T>& a, const Tensor<T>& b, F f) {
  detail::pointwise_into("apply_inplace", a, f, a, b);
  a.bump_version();
}

/// Copy into another scalar type. Not differentiable (each scalar type has its own graph).
template <typename U, typename T>
Tensor<U> cast(const Tensor<T>& a) {
  Tensor<T> c = a.contiguous();
  Tensor<U> out = Tensor<U>::empty(a.shape(), a.device());
  kernels::convert<U, T>({a.device(), a.numel(), c.data_ptr(), out.data_ptr()});
  return out;
}

// ---- differentiable binary ops ----

template <typename T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("add", fn::Add{}, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record<T>(out, "Add", {a, b}, [sa, sb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(g, sb)};
  });
}

template <typename T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("sub", fn::Sub{}, a, b);
  Shape sa = a.shape(), sb = b.shape();
  return record<T>(out, "Sub", {a, b}, [sa, sb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(g, sa), sum_to(map_unary(g, fn::Neg{}), sb)};
  });
}

template <typename T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("mul", fn::Mul{}, a, b);
  bool ga = any_requires_grad<T>({&a}), gb = any_requires_grad<T>({&b});
  SavedTensor<T> sa(gb ? a : Tensor<T>(), "Mul"), sb(ga ? b : Tensor<T>(), "Mul");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Mul", {a, b}, [sa, sb, sha, shb, ga, gb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{ga ? sum_to(map_binary(g, sb.get(), fn::Mul{}), sha) : Tensor<T>(),
                                  gb ? sum_to(map_binary(g, sa.get(), fn::Mul{}), shb) : Tensor<T>()};
  });
}

template <typename T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("div", fn::Div{}, a, b);
  bool gb = any_requires_grad<T>({&b});
  SavedTensor<T> sa(gb ? a : Tensor<T>(), "Div"), sb(b, "Div");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Div", {a, b}, [sa, sb, sha, shb, gb](const Tensor<T>& g) {
    Tensor<T> ga = sum_to(map_binary(g, sb.get(), fn::Div{}), sha);
    Tensor<T> gbt;
    if (gb) gbt = sum_to(map_ternary(g, sa.get(), sb.get(), fn::DivGradDenominator{}), shb);
    return std::vector<Tensor<T>>{ga, gbt};
  });
}

/// Elementwise max / min; the gradient goes to the larger (smaller) input, to `a` on ties.
template <typename T>
Tensor<T> maximum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("maximum", fn::Maximum{}, a, b);
  SavedTensor<T> sa(a, "Maximum"), sb(b, "Maximum");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Maximum", {a, b}, [sa, sb, sha, shb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(map_ternary(g, sa.get(), sb.get(), fn::MaximumGrad<true>{}), sha),
                                  sum_to(map_ternary(g, sa.get(), sb.get(), fn::MaximumGrad<false>{}), shb)};
  });
}

template <typename T>
Tensor<T> minimum(const Tensor<T>& a, const Tensor<T>& b) {
  Tensor<T> out = detail::pointwise_new("minimum", fn::Minimum{}, a, b);
  SavedTensor<T> sa(a, "Minimum"), sb(b, "Minimum");
  Shape sha = a.shape(), shb = b.shape();
  return record<T>(out, "Minimum", {a, b}, [sa, sb, sha, shb](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{sum_to(map_ternary(g, sa.get(), sb.get(), fn::MinimumGrad<true>{}), sha),
                                  sum_to(map_ternary(g, sa.get(), sb.get(), fn::MinimumGrad<false>{}), shb)};
  });
}

// ---- differentiable unary ops ----

/// A differentiable unary op given by a functor F with F(x) and F.grad(g, x, y) (kernels/functors.hpp).
template <typename T, typename F>
Tensor<T> unary_op(const Tensor<T>& a, const char* name, F f) {
  Tensor<T> out = detail::pointwise_new(name, f, a);
  if (!any_requires_grad<T>({&a})) return out;
  SavedTensor<T> sa(a, name), so(out.detach(), name);
  return record<T>(out, name, {a}, [sa, so, f](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{map_ternary(g, sa.get(), so.get(), fn::GradOf<F>{f})};
  });
}

template <typename T> Tensor<T> neg(const Tensor<T>& a) { return unary_op(a, "Neg", fn::Neg{}); }
template <typename T> Tensor<T> exp(const Tensor<T>& a) { return unary_op(a, "Exp", fn::Exp{}); }
template <typename T> Tensor<T> log(const Tensor<T>& a) { return unary_op(a, "Log", fn::Log{}); }
template <typename T> Tensor<T> sqrt(const Tensor<T>& a) { return unary_op(a, "Sqrt", fn::Sqrt{}); }
template <typename T> Tensor<T> abs(const Tensor<T>& a) { return unary_op(a, "Abs", fn::Abs{}); }
template <typename T> Tensor<T> square(const Tensor<T>& a) { return unary_op(a, "Square", fn::Square{}); }
template <typename T> Tensor<T> pow(const Tensor<T>& a, T p) { return unary_op(a, "Pow", fn::Pow<T>{p}); }
template <typename T> Tensor<T> clamp(const Tensor<T>& a, T lo, T hi) {
  return unary_op(a, "Clamp", fn::Clamp<T>{lo, hi});
}

/// Scalar forms: a + s, a * s.
template <typename T> Tensor<T> add(const Tensor<T>& a, T s) { return unary_op(a, "AddScalar", fn::AddScalar<T>{s}); }
template <typename T> Tensor<T> mul(const Tensor<T>& a, T s) { return unary_op(a, "MulScalar", fn::MulScalar<T>{s}); }

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
  detail::pointwise_into("fill_", *this, fn::Constant<T>{value});
  bump_version();
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::copy_(const Tensor<T>& src) {
  // from another device (loading a CPU checkpoint into a CUDA model): transfer, then copy
  if (src.defined() && src.device() != device()) return copy_(src.to(device()));
  apply_inplace(*this, src, fn::Second{});
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::add_(const Tensor<T>& other, T alpha) {
  apply_inplace(*this, other, fn::Axpy<T>{alpha});
  return *this;
}

template <typename T>
Tensor<T>& Tensor<T>::mul_(T value) {
  detail::pointwise_into("mul_", *this, fn::MulScalar<T>{value}, *this);
  bump_version();
  return *this;
}

}  // namespace onenip

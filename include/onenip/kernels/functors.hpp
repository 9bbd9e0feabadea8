// Named pointwise functions: what the elementwise kernels apply, on every backend.
//
// A functor is a small struct with a call operator on scalars (and, for a differentiable unary
// op, `grad(g, x, y)`: dL/dx from the output gradient g, the input x and the output y). Ops name
// the functor they need instead of passing a lambda, because a CUDA backend must compile each
// one into device code: ONENIP_HOST_DEVICE marks them for both. Parameters (a scalar, a slope)
// are fields.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#if defined(__CUDACC__)
#define ONENIP_HOST_DEVICE __host__ __device__
#else
#define ONENIP_HOST_DEVICE
#endif

namespace onenip::fn {

// ---- nullary and copies ----
template <typename V>
struct Constant {  // out = value (fill)
  V value;
  ONENIP_HOST_DEVICE V operator()() const { return value; }
};
struct Identity {  // out = x (copy)
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x; }
};
struct Second {  // out = y (copy into a view: a = b)
  template <typename T> ONENIP_HOST_DEVICE T operator()(T, T y) const { return y; }
};

// ---- binary arithmetic ----
struct Add {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x + y; }
};
struct Sub {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x - y; }
};
struct Mul {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x * y; }
};
struct Div {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x / y; }
};
template <typename V>
struct Axpy {  // x + alpha y (add_, weight decay, Nesterov momentum)
  V alpha;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x + T(alpha) * y; }
};
struct Maximum {  // ties and NaN in x keep x
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x >= y ? x : y; }
};
struct Minimum {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x, T y) const { return x <= y ? x : y; }
};

// ---- gradients of the binary ops, (g, x, y) -> contribution ----
struct DivGradDenominator {  // d(x / y)/dy = -x / y^2
  template <typename T> ONENIP_HOST_DEVICE T operator()(T g, T x, T y) const { return -g * x / (y * y); }
};
template <bool ToFirst>
struct MaximumGrad {  // the gradient goes to the larger input, to x on ties
  template <typename T> ONENIP_HOST_DEVICE T operator()(T g, T x, T y) const {
    return (x >= y) == ToFirst ? g : T(0);
  }
};
template <bool ToFirst>
struct MinimumGrad {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T g, T x, T y) const {
    return (x <= y) == ToFirst ? g : T(0);
  }
};

// ---- differentiable unary ops: value and grad(g, x, y) ----
struct Neg {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return -x; }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T) const { return g * T(-1); }
};
struct Exp {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::exp(x); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T y) const { return g * y; }
};
struct Log {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::log(x); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const { return g * (T(1) / x); }
};
struct Sqrt {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::sqrt(x); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T y) const { return g * (T(0.5) / y); }
};
struct Abs {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::abs(x); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    return g * (x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)));
  }
};
struct Square {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x * x; }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const { return g * (T(2) * x); }
};
template <typename V>
struct Pow {
  V p;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::pow(x, T(p)); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const { return g * (T(p) * std::pow(x, T(p) - T(1))); }
};
template <typename V>
struct Clamp {  // gradient 1 inside [lo, hi], bounds included
  V lo, hi;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::min(std::max(x, T(lo)), T(hi)); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    return g * ((x >= T(lo) && x <= T(hi)) ? T(1) : T(0));
  }
};
template <typename V>
struct AddScalar {
  V s;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x + T(s); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T) const { return g * T(1); }
};
template <typename V>
struct MulScalar {
  V s;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x * T(s); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T) const { return g * T(s); }
};

// ---- activations (PyTorch's conventions, including the derivative at kinks) ----
struct ReLU {  // relu'(0) = 0
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(0); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const { return g * (x > T(0) ? T(1) : T(0)); }
};
struct ReLU6 {  // min(max(x, 0), 6) (MobileNetV2); derivative 0 at 0 and 6
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::min(std::max(x, T(0)), T(6)); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    return g * ((x > T(0) && x < T(6)) ? T(1) : T(0));
  }
};
template <typename V>
struct LeakyReLU {  // leaky_relu'(0) = slope
  V slope;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x > T(0) ? x : T(slope) * x; }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const { return g * (x > T(0) ? T(1) : T(slope)); }
};
struct Sigmoid {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return T(1) / (T(1) + std::exp(-x)); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T y) const { return g * (y * (T(1) - y)); }
};
struct Tanh {
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return std::tanh(x); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T, T y) const { return g * (T(1) - y * y); }
};
struct SiLU {  // x * sigmoid(x) (swish; EfficientNet)
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const { return x / (T(1) + std::exp(-x)); }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    T s = T(1) / (T(1) + std::exp(-x));
    return g * (s * (T(1) + x * (T(1) - s)));
  }
};
struct GELU {  // exact: x Phi(x), Phi the standard normal CDF
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(M_SQRT1_2)));
  }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    T cdf = T(0.5) * (T(1) + std::erf(x * T(M_SQRT1_2)));
    T pdf = std::exp(T(-0.5) * x * x) * T(0.5 * M_2_SQRTPI * M_SQRT1_2);  // 1/sqrt(2 pi)
    return g * (cdf + x * pdf);
  }
};
struct GELUTanh {  // PyTorch's approximate="tanh"
  static constexpr double k = 0.7978845608028654, c = 0.044715;  // sqrt(2 / pi)
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::tanh(T(k) * (x + T(c) * x * x * x)));
  }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    T t = std::tanh(T(k) * (x + T(c) * x * x * x));
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * T(k) * (T(1) + T(3) * T(c) * x * x));
  }
};
template <typename V>
struct Softplus {  // log(1 + exp(beta x)) / beta, linear above threshold (as PyTorch)
  V beta, threshold;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T x) const {
    return x * T(beta) > T(threshold) ? x : std::log1p(std::exp(x * T(beta))) / T(beta);
  }
  template <typename T> ONENIP_HOST_DEVICE T grad(T g, T x, T) const {
    return g * (x * T(beta) > T(threshold) ? T(1) : T(1) / (T(1) + std::exp(-x * T(beta))));
  }
};

// (g, x, y) -> F::grad(g, x, y): the backward of a unary op as a ternary pointwise function.
template <typename F>
struct GradOf {
  F f;
  template <typename T> ONENIP_HOST_DEVICE T operator()(T g, T x, T y) const { return f.template grad<T>(g, x, y); }
};

}  // namespace onenip::fn

// Every functor the ops pass to kernels::pointwise, by arity, for a scalar type T: a compiled
// backend (cuda/elementwise.cu) instantiates its pointwise kernel for each. A new functor goes
// here too, or a program that links that backend fails to link.
#define ONENIP_NULLARY_FUNCTORS(X, T) X(T, ::onenip::fn::Constant<T>)
#define ONENIP_UNARY_GRAD_FUNCTORS(X, T)                                                                         \
  X(T, ::onenip::fn::Neg) X(T, ::onenip::fn::Exp) X(T, ::onenip::fn::Log) X(T, ::onenip::fn::Sqrt)               \
  X(T, ::onenip::fn::Abs) X(T, ::onenip::fn::Square) X(T, ::onenip::fn::Pow<T>) X(T, ::onenip::fn::Clamp<T>)     \
  X(T, ::onenip::fn::AddScalar<T>) X(T, ::onenip::fn::MulScalar<T>) X(T, ::onenip::fn::ReLU)                    \
  X(T, ::onenip::fn::ReLU6) X(T, ::onenip::fn::LeakyReLU<T>) X(T, ::onenip::fn::Sigmoid) X(T, ::onenip::fn::Tanh) \
  X(T, ::onenip::fn::SiLU) X(T, ::onenip::fn::GELU) X(T, ::onenip::fn::GELUTanh) X(T, ::onenip::fn::Softplus<T>)
#define ONENIP_UNARY_FUNCTORS(X, T) X(T, ::onenip::fn::Identity) ONENIP_UNARY_GRAD_FUNCTORS(X, T)
#define ONENIP_BINARY_FUNCTORS(X, T)                                                                         \
  X(T, ::onenip::fn::Second) X(T, ::onenip::fn::Add) X(T, ::onenip::fn::Sub) X(T, ::onenip::fn::Mul)         \
  X(T, ::onenip::fn::Div) X(T, ::onenip::fn::Axpy<T>) X(T, ::onenip::fn::Maximum) X(T, ::onenip::fn::Minimum)
#define ONENIP_TERNARY_FUNCTORS(X, T)                                                                     \
  X(T, ::onenip::fn::DivGradDenominator) X(T, ::onenip::fn::MaximumGrad<true>)                            \
  X(T, ::onenip::fn::MaximumGrad<false>) X(T, ::onenip::fn::MinimumGrad<true>)                            \
  X(T, ::onenip::fn::MinimumGrad<false>)

namespace onenip::fn {
// Whether Fn is one of the listed functors for scalar type T (a compiled backend has a kernel
// for it); a lambda is not, and runs on the CPU only.
#define ONENIP_FUNCTOR_IS(T, F) || std::is_same_v<Fn, F>
#define ONENIP_GRAD_FUNCTOR_IS(T, F) || std::is_same_v<Fn, ::onenip::fn::GradOf<F>>
template <typename Fn, typename T>
inline constexpr bool is_listed_functor = false ONENIP_NULLARY_FUNCTORS(ONENIP_FUNCTOR_IS, T)
    ONENIP_UNARY_FUNCTORS(ONENIP_FUNCTOR_IS, T) ONENIP_BINARY_FUNCTORS(ONENIP_FUNCTOR_IS, T)
        ONENIP_TERNARY_FUNCTORS(ONENIP_FUNCTOR_IS, T) ONENIP_UNARY_GRAD_FUNCTORS(ONENIP_GRAD_FUNCTOR_IS, T);
#undef ONENIP_FUNCTOR_IS
#undef ONENIP_GRAD_FUNCTOR_IS
}  // namespace onenip::fn

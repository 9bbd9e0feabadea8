// Factories: zeros, ones, full, arange, linspace, tensor, rand, randn, and the *_like forms.
#pragma once

#include "../random.hpp"
#include "views.hpp"

namespace onenip {

template <typename T>
Tensor<T> full(const Shape& shape, T value) {
  Tensor<T> t = Tensor<T>::empty(shape);
  T* p = t.data();
  parallel_for(t.numel(), 1 << 16, [&](int64_t b, int64_t e) { std::fill(p + b, p + e, value); });
  return t;
}
template <typename T> Tensor<T> zeros(const Shape& shape) { return full<T>(shape, T(0)); }
template <typename T> Tensor<T> ones(const Shape& shape) { return full<T>(shape, T(1)); }
template <typename T> Tensor<T> zeros_like(const Tensor<T>& a) { return zeros<T>(a.shape()); }
template <typename T> Tensor<T> ones_like(const Tensor<T>& a) { return ones<T>(a.shape()); }
template <typename T> Tensor<T> full_like(const Tensor<T>& a, T v) { return full<T>(a.shape(), v); }

// A 1-element tensor of rank 0.
template <typename T> Tensor<T> scalar_tensor(T v) { return full<T>({}, v); }

// Values from a list: tensor<float>({1, 2, 3, 4}, {2, 2}); shape defaults to 1-D.
template <typename T>
Tensor<T> tensor(const std::vector<T>& values, Shape shape = {}) {
  if (shape.empty()) shape = {int64_t(values.size())};
  return Tensor<T>::from_vector(values, shape);
}

// [start, end) in steps of `step`.
template <typename T>
Tensor<T> arange(T start, T end, T step = T(1)) {
  ONENIP_CHECK(step != T(0), "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor<T> t = Tensor<T>::empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = start + T(i) * step;
  return t;
}

template <typename T>
Tensor<T> linspace(T start, T end, int64_t steps) {
  ONENIP_CHECK(steps >= 1, "linspace: steps must be >= 1, got ", steps);
  Tensor<T> t = Tensor<T>::empty({steps});
  for (int64_t i = 0; i < steps; ++i) t.data()[i] = steps == 1 ? start : start + (end - start) * T(i) / T(steps - 1);
  return t;
}

// Uniform in [lo, hi). Counter-based: element i depends only on (seed, offset, i).
template <typename T>
Tensor<T> rand(const Shape& shape, T lo = T(0), T hi = T(1), Generator& gen = default_generator()) {
  Tensor<T> t = Tensor<T>::empty(shape);
  int64_t n = t.numel();
  uint64_t base = gen.reserve(uint64_t((n + 3) / 4));
  T* p = t.data();
  parallel_for((n + 3) / 4, 4096, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      auto r = gen.block(base + uint64_t(blk));
      for (int64_t j = 0; j < 4 && blk * 4 + j < n; ++j)
        p[blk * 4 + j] = lo + (hi - lo) * T(Generator::to_unit(r[size_t(j)]));
    }
  });
  return t;
}

// Normal(mean, std), Box-Muller on pairs of a block.
template <typename T>
Tensor<T> randn(const Shape& shape, T mean = T(0), T std = T(1), Generator& gen = default_generator()) {
  Tensor<T> t = Tensor<T>::empty(shape);
  int64_t n = t.numel();
  uint64_t base = gen.reserve(uint64_t((n + 1) / 2));
  T* p = t.data();
  parallel_for((n + 1) / 2, 4096, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      auto r = gen.block(base + uint64_t(blk));
      double u1 = Generator::to_unit(r[0]), u2 = Generator::to_unit(r[1]);
      double rad = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
      p[blk * 2] = mean + std * T(rad * std::cos(th));
      if (blk * 2 + 1 < n) p[blk * 2 + 1] = mean + std * T(rad * std::sin(th));
    }
  });
  return t;
}

}  // namespace onenip

/// \file
/// Factories: zeros, ones, full, arange, linspace, tensor, rand, randn, and the *_like forms.
/// Each takes the device to create on (the CPU by default); the *_like forms use their
/// argument's device.
#pragma once

#include "../kernels/elementwise.hpp"
#include "../kernels/random.hpp"
#include "views.hpp"

namespace onenip {

template <typename T>
Tensor<T> full(const Shape& shape, T value, Device device = Device::CPU) {
  Tensor<T> t = Tensor<T>::empty(shape, device);
  kernels::PointwiseProblem<T, 1> p{device, shape, {t.strides()}, {t.data_ptr()}};
  kernels::pointwise(p, fn::Constant<T>{value});
  return t;
}
template <typename T> Tensor<T> zeros(const Shape& shape, Device device = Device::CPU) {
  return full<T>(shape, T(0), device);
}
template <typename T> Tensor<T> ones(const Shape& shape, Device device = Device::CPU) {
  return full<T>(shape, T(1), device);
}
template <typename T> Tensor<T> zeros_like(const Tensor<T>& a) { return zeros<T>(a.shape(), a.device()); }
template <typename T> Tensor<T> ones_like(const Tensor<T>& a) { return ones<T>(a.shape(), a.device()); }
template <typename T> Tensor<T> full_like(const Tensor<T>& a, T v) { return full<T>(a.shape(), v, a.device()); }

/// A 1-element tensor of rank 0.
template <typename T> Tensor<T> scalar_tensor(T v, Device device = Device::CPU) { return full<T>({}, v, device); }

/// Values from a list: tensor<float>({1, 2, 3, 4}, {2, 2}); shape defaults to 1-D.
template <typename T>
Tensor<T> tensor(const std::vector<T>& values, Shape shape = {}, Device device = Device::CPU) {
  if (shape.empty()) shape = {int64_t(values.size())};
  return Tensor<T>::from_vector(values, shape).to(device);
}

/// [start, end) in steps of `step`.
template <typename T>
Tensor<T> arange(T start, T end, T step = T(1), Device device = Device::CPU) {
  ONENIP_CHECK(step != T(0), "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor<T> t = Tensor<T>::empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = start + T(i) * step;
  return t.to(device);
}

template <typename T>
Tensor<T> linspace(T start, T end, int64_t steps, Device device = Device::CPU) {
  ONENIP_CHECK(steps >= 1, "linspace: steps must be >= 1, got ", steps);
  Tensor<T> t = Tensor<T>::empty({steps});
  for (int64_t i = 0; i < steps; ++i) t.data()[i] = steps == 1 ? start : start + (end - start) * T(i) / T(steps - 1);
  return t.to(device);
}

namespace detail {
// A tensor of `shape` filled by the random kernel: `per_block` numbers come from each Philox
// block, and the generator moves past the blocks used.
template <typename T>
Tensor<T> random_tensor(const Shape& shape, kernels::Distribution dist, T a, T b, int64_t per_block, Generator& gen,
                        Device device) {
  Tensor<T> t = Tensor<T>::empty(shape, device);
  const int64_t n = t.numel();
  const auto [base, map] = gen.reserve_rows(n, shape.empty() ? 1 : shape[0], per_block, "random tensor");
  kernels::random_fill<T>({device, dist, t.data_ptr(), n, a, b, gen.seed(), base, map});
  return t;
}
}  // namespace detail

/// Uniform in [lo, hi). Counter-based: element i depends only on (seed, offset, i).
template <typename T>
Tensor<T> rand(const Shape& shape, T lo = T(0), T hi = T(1), Generator& gen = default_generator(),
               Device device = Device::CPU) {
  return detail::random_tensor(shape, kernels::Distribution::Uniform, lo, hi, 4, gen, device);
}

/// Normal(mean, std), Box-Muller on pairs of a block.
template <typename T>
Tensor<T> randn(const Shape& shape, T mean = T(0), T std = T(1), Generator& gen = default_generator(),
                Device device = Device::CPU) {
  return detail::random_tensor(shape, kernels::Distribution::Normal, mean, std, 2, gen, device);
}

}  // namespace onenip

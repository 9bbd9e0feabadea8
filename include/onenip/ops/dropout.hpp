/// \file
/// Inverted dropout with a counter-based keep/drop decision (kernels/random.hpp: DropoutMask).
///
/// Element i (in row-major order of the logical shape) is decided by 16 bits of the Philox
/// stream; p is rounded to a multiple of 2^-16 (0.1 drops with probability 0.1000061); kept
/// elements are scaled by 1 / (keep probability), so the expectation is exactly the input. The
/// decision is a pure function of (seed, first counter, i):
///   - results do not depend on the thread count or the work split;
///   - backward regenerates the mask instead of storing it;
///   - the fused attention regenerates the mask of its composite reference exactly (same
///     generator state in, same state out).
#pragma once

#include <algorithm>
#include <cmath>

#include "../kernels/random.hpp"
#include "elementwise.hpp"

namespace onenip {

/// Zeroes each element with probability p (rounded to a multiple of 2^-16) and scales the rest
/// by 1 / (keep probability) when training; returns x itself otherwise (and when p == 0).
template <typename T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training, Generator& gen) {
  ONENIP_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  const int64_t n = x.numel();
  kernels::DropoutMask mask(gen, p, n, x.dim() > 0 ? x.size(0) : 1);
  const T scale = mask.scale<T>();
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape(), x.device());
  kernels::dropout<T>({x.device(), &mask, xc.data_ptr(), out.data_ptr(), n, scale});
  return record<T>(out, "Dropout", {x}, [mask, scale, n](const Tensor<T>& g) {
    Tensor<T> gc = g.contiguous();
    Tensor<T> dx = Tensor<T>::empty(g.shape(), g.device());
    kernels::dropout<T>({g.device(), &mask, gc.data_ptr(), dx.data_ptr(), n, scale});
    return std::vector<Tensor<T>>{dx};
  });
}

}  // namespace onenip

// Inverted dropout with a counter-based keep/drop decision.
//
// Element i (in row-major order of the logical shape) is decided by 16 bits of Philox block
// (first reserved counter + i / 8): half (i % 2) of 32-bit word (i % 8) / 2. It is kept iff
// those bits are >= round(p * 2^16), i.e. p is rounded to a multiple of 2^-16 (0.1 drops with
// probability 0.1000061); kept elements are scaled by 1 / (keep probability), so the
// expectation is exactly the input. The decision is a pure function of (seed, first counter, i):
//   - results do not depend on the thread count or the work split;
//   - backward regenerates the mask instead of storing it;
//   - the fused attention regenerates the mask of its composite reference exactly (same
//     generator state in, same state out).
// 16-bit decisions halve the Philox work, which otherwise dominates attention-weight dropout.
#pragma once

#include <algorithm>
#include <cmath>

#include "elementwise.hpp"

namespace onenip {

namespace detail {

// The keep/drop decisions of one dropout call over `numel` elements.
struct DropoutMask {
  static constexpr int64_t kPerBlock = 8;  // 16-bit decisions per Philox block
  Generator key;                           // the generator's seed; counters below
  uint64_t base = 0;                       // first reserved counter
  uint32_t threshold = 0;                  // keep iff 16-bit draw >= threshold
  bool drop_all = false;                   // p rounds to 1

  // Reserves ceil(numel / 8) counters of `gen`.
  DropoutMask(Generator& gen, double p, int64_t numel) : key(gen.seed()) {
    base = gen.reserve(uint64_t((numel + kPerBlock - 1) / kPerBlock));
    threshold = uint32_t(std::llround(std::ldexp(p, 16)));
    drop_all = threshold >= 65536u;
  }

  // Factor of a kept element: 1 / keep probability (0 when everything is dropped).
  template <typename T>
  T scale() const {
    return drop_all ? T(0) : T(65536.0 / double(65536u - threshold));
  }

  // f[k] = scale if element first + k is kept, else 0, for k < n.
  template <typename T>
  void factors(int64_t first, int64_t n, T scale, T* f) const {
    if (drop_all) {
      std::fill(f, f + n, T(0));
      return;
    }
    // Branch-free: a drop happens at random, so a branch would mispredict often.
    auto decide = [&](uint32_t word, T* out) {
      out[0] = scale * T((word & 0xffffu) >= threshold);
      out[1] = scale * T((word >> 16) >= threshold);
    };
    int64_t i = first, end = first + n;
    if (i % kPerBlock != 0) {  // partial first block
      T tmp[kPerBlock];
      auto r = key.block(base + uint64_t(i / kPerBlock));
      for (int w = 0; w < 4; ++w) decide(r[size_t(w)], tmp + 2 * w);
      int64_t j0 = i % kPerBlock, j1 = std::min(kPerBlock, j0 + n);
      f = std::copy(tmp + j0, tmp + j1, f);
      i += j1 - j0;
    }
    for (; i + kPerBlock <= end; i += kPerBlock, f += kPerBlock) {
      auto r = key.block(base + uint64_t(i / kPerBlock));
      for (int w = 0; w < 4; ++w) decide(r[size_t(w)], f + 2 * w);
    }
    if (i < end) {  // partial last block
      T tmp[kPerBlock];
      auto r = key.block(base + uint64_t(i / kPerBlock));
      for (int w = 0; w < 4; ++w) decide(r[size_t(w)], tmp + 2 * w);
      std::copy(tmp, tmp + (end - i), f);
    }
  }

  // out[k] = in[k] * factor(first + k): applies the mask (forward) or its adjoint (backward).
  template <typename T>
  void apply(const T* in, T* out, int64_t first, int64_t n, T scale) const {
    constexpr int64_t Chunk = 1024;
    T f[Chunk];
    for (int64_t s = 0; s < n; s += Chunk) {
      int64_t len = std::min(Chunk, n - s);
      factors(first + s, len, scale, f);
      for (int64_t k = 0; k < len; ++k) out[s + k] = in[s + k] * f[k];
    }
  }
};

// out = x * mask over a contiguous buffer of n elements, in parallel (deterministic: the mask
// does not depend on the split).
template <typename T>
void apply_dropout_parallel(const DropoutMask& mask, const T* in, T* out, int64_t n, T scale) {
  constexpr int64_t Grain = 16384;
  parallel_for((n + Grain - 1) / Grain, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t s = c * Grain;
      mask.apply(in + s, out + s, s, std::min(Grain, n - s), scale);
    }
  });
}

}  // namespace detail

// Zeroes each element with probability p (rounded to a multiple of 2^-16) and scales the rest
// by 1 / (keep probability) when training; returns x itself otherwise (and when p == 0).
template <typename T>
Tensor<T> dropout(const Tensor<T>& x, double p, bool training, Generator& gen) {
  ONENIP_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  const int64_t n = x.numel();
  detail::DropoutMask mask(gen, p, n);
  const T scale = mask.scale<T>();
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape());
  detail::apply_dropout_parallel(mask, xc.data(), out.data(), n, scale);
  return record<T>(out, "Dropout", {x}, [mask, scale, n](const Tensor<T>& g) {
    Tensor<T> gc = g.contiguous();
    Tensor<T> dx = Tensor<T>::empty(g.shape());
    detail::apply_dropout_parallel(mask, gc.data(), dx.data(), n, scale);
    return std::vector<Tensor<T>>{dx};
  });
}

}  // namespace onenip

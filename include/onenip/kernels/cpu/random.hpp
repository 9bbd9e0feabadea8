// CPU random fills and dropout: blocks of the Philox stream in parallel (the split does not
// change any number).
#pragma once

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

template <typename T>
void random_fill(const RandomFillProblem<T>& p) {
  const int64_t n = p.n;
  T* out = p.out;
  if (p.dist == Distribution::Uniform) {
    const T lo = p.a, hi = p.b;
    parallel_for((n + 3) / 4, 4096, [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        const PhiloxBlock r = philox4x32_10(p.base + p.map.block(blk, 4), p.seed);
        for (int64_t j = 0; j < 4 && blk * 4 + j < n; ++j) out[blk * 4 + j] = lo + (hi - lo) * T(philox_unit(r.w[j]));
      }
    });
    return;
  }
  const T mean = p.a, std = p.b;
  parallel_for((n + 1) / 2, 4096, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      double z[2];
      box_muller_pair(philox4x32_10(p.base + p.map.block(blk, 2), p.seed), z);
      out[blk * 2] = mean + std * T(z[0]);
      if (blk * 2 + 1 < n) out[blk * 2 + 1] = mean + std * T(z[1]);
    }
  });
}

// out[k] = in[k] * factor(first + k) for k < n, in chunks of factors.
template <typename T>
void apply_dropout_mask(const DropoutMask& mask, const T* in, T* out, int64_t first, int64_t n, T scale) {
  constexpr int64_t Chunk = 1024;
  T f[Chunk];
  for (int64_t s = 0; s < n; s += Chunk) {
    int64_t len = std::min(Chunk, n - s);
    mask.factors(first + s, len, scale, f);
    for (int64_t k = 0; k < len; ++k) out[s + k] = in[s + k] * f[k];
  }
}

template <typename T>
void dropout(const DropoutProblem<T>& p) {
  constexpr int64_t Grain = 16384;
  parallel_for((p.n + Grain - 1) / Grain, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t s = c * Grain;
      apply_dropout_mask(*p.mask, p.in + s, p.out + s, s, std::min(Grain, p.n - s), p.scale);
    }
  });
}

}  // namespace onenip::kernels::cpu

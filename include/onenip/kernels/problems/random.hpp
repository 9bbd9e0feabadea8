// The problem structs of random kernels: what every backend is given (see kernels/random.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include <algorithm>
#include <cmath>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "../../random.hpp"

namespace onenip::kernels {

enum class Distribution { Uniform, Normal };

// out [n] (contiguous): Uniform in [a, b) from block (base + i / 4), word i % 4; or Normal(mean
// a, std b), Box-Muller on the first two words of block (base + i / 2) (cos for even i, sin
// for odd).
template <typename T>
struct RandomFillProblem {
  Device device = Device::CPU;
  Distribution dist = Distribution::Uniform;
  T* out = nullptr;
  int64_t n = 0;
  T a = 0, b = 1;
  uint64_t seed = 0, base = 0;
};

// The keep/drop decisions of one dropout call over `numel` elements. Element i (row-major in the
// logical shape) is decided by 16 bits of Philox block (base + i / 8): half (i % 2) of 32-bit
// word (i % 8) / 2. It is kept iff those bits are >= threshold = round(p 2^16), so p is rounded
// to a multiple of 2^-16; kept elements are scaled by 1 / (keep probability). 16-bit decisions
// halve the Philox work, which otherwise dominates attention-weight dropout.
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
};

// out [n] = in [n] * factor(i) (both contiguous; the mask applied, or its adjoint in backward).
template <typename T>
struct DropoutProblem {
  Device device = Device::CPU;
  const DropoutMask* mask = nullptr;
  const T* in = nullptr;
  T* out = nullptr;
  int64_t n = 0;
  T scale = 1;
};

}  // namespace onenip::kernels

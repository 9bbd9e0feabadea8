// The problem structs of random kernels: what every backend is given (see kernels/random.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include <algorithm>
#include <cmath>
#include <tuple>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "../../random.hpp"

namespace onenip::kernels {

enum class Distribution { Uniform, Normal };

// The two normal numbers of a block (Box-Muller in double on its first two words), for the host
// and device kernels: z[0] = rad cos(th) for the even element, z[1] = rad sin(th) for the odd.
ONENIP_HOST_DEVICE inline void box_muller_pair(const PhiloxBlock& r, double z[2]) {
  const double u1 = philox_unit(r.w[0]), u2 = philox_unit(r.w[1]);
  const double rad = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
  z[0] = rad * std::cos(th);
  z[1] = rad * std::sin(th);
}

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
  SampleMap map;  // block i's counter is base + map.block(i, per block)
};

// The keep/drop decisions of one dropout call over `numel` elements. Element i (row-major in the
// logical shape) is decided by 16 bits of Philox block (base + i / 8): half (i % 2) of 32-bit
// word (i % 8) / 2. It is kept iff those bits are >= threshold = round(p 2^16), so p is rounded
// to a multiple of 2^-16; kept elements are scaled by 1 / (keep probability). 16-bit decisions
// halve the Philox work, which otherwise dominates attention-weight dropout. The CPU kernels
// turn runs of elements into factors with kernels/cpu/random.hpp's dropout_factors.
struct DropoutMask {
  static constexpr int64_t kPerBlock = 8;  // 16-bit decisions per Philox block
  Generator key;                           // the generator's seed; counters below
  uint64_t base = 0;                       // first reserved counter
  uint32_t threshold = 0;                  // keep iff 16-bit draw >= threshold
  bool drop_all = false;                   // p rounds to 1
  SampleMap map;                           // block i's counter is base + map.block(i, 8)

  // Reserves ceil(numel / 8) counters of `gen` (for a batch shard, the global batch's: see
  // Generator::reserve_rows); `rows`: the leading dim of the tensor.
  DropoutMask(Generator& gen, double p, int64_t numel, int64_t rows = 1) : key(gen.seed()) {
    std::tie(base, map) = gen.reserve_rows(numel, rows, kPerBlock, "dropout");
    threshold = uint32_t(std::llround(std::ldexp(p, 16)));
    drop_all = threshold >= 65536u;
  }

  // Factor of a kept element: 1 / keep probability (0 when everything is dropped).
  template <typename T>
  T scale() const {
    return drop_all ? T(0) : T(65536.0 / double(65536u - threshold));
  }

  // Whether element j (0..7) of a block is kept: 16 bits of the block's words, half j % 2 of
  // word j / 2, against the threshold. The one decision rule: the device kernels apply it per
  // block; the CPU's dropout_factors reads the same bits as the blocks' 16-bit halves in memory.
  ONENIP_HOST_DEVICE static bool keeps(const PhiloxBlock& r, int64_t j, uint32_t threshold) {
    return ((r.w[j / 2] >> (16 * (j % 2))) & 0xffffu) >= threshold;
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

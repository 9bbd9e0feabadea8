/// \file
/// Philox4x32-10 (Salmon et al., 2011): the block function behind Generator (random.hpp) and the
/// device random kernels, in one place so that every backend draws the same numbers. Plain
/// 32/64-bit integer math and no library types, so nvcc compiles it for the device as it is.
#pragma once

#include <cstdint>

// The same definition as kernels/functors.hpp (an identical redefinition is legal), so this
// header stays in the tensor layer and does not include the kernels.
#ifndef ONENIP_HOST_DEVICE
#if defined(__CUDACC__)
#define ONENIP_HOST_DEVICE __host__ __device__
#else
#define ONENIP_HOST_DEVICE
#endif
#endif

namespace onenip {

/// The four 32-bit words of one block.
struct PhiloxBlock {
  uint32_t w[4];
};

/// Block `counter` of the stream keyed by `key` (the generator's seed): pure, same inputs, same
/// outputs on every device.
ONENIP_HOST_DEVICE inline PhiloxBlock philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = 0u, c3 = 0u;
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// A word as a double in (0, 1): exact (33 significant bits), never 0, so log() is finite.
ONENIP_HOST_DEVICE inline double philox_unit(uint32_t x) { return (double(x) + 0.5) * (1.0 / 4294967296.0); }

/// The counters of a random tensor drawn for a shard of a batch (data-parallel training): its
/// leading dim holds `segments x local` samples (such as the model's [query; synthetic; prompt]
/// streams), row r of segment s being sample (offset + r) of a global batch of `global`. Each
/// sample draws the counters it would draw in the same tensor for the whole global batch, so
/// its numbers depend on its global position, not on how the batch was split.
/// per_sample == 0: no shard, counter = block.
struct SampleMap {
  int64_t per_sample = 0, local = 0, global = 0, offset = 0;  ///< per_sample: a multiple of per_block

  /// The counter offset (from the tensor's base) of its local block `blk` of `per_block` numbers.
  ONENIP_HOST_DEVICE uint64_t block(int64_t blk, int64_t per_block) const {
    if (per_sample == 0) return uint64_t(blk);
    const int64_t i = blk * per_block, sample = i / per_sample, within = i - sample * per_sample;
    const int64_t segment = sample / local, row = sample - segment * local;
    return uint64_t(((segment * global + offset + row) * per_sample + within) / per_block);
  }
};

}  // namespace onenip

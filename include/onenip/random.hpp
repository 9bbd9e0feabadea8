/// \file
/// Counter-based random numbers (Philox4x32-10, Salmon et al., 2011).
///
/// Element i of a fill draws from counter (offset + i / 4), so the values depend only on
/// the seed and how many numbers were drawn before, never on the thread count or on how
/// the work is split. The generator's whole state is (seed, offset): two integers to save
/// in a checkpoint.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <utility>

#include "core/error.hpp"

#include "core/philox.hpp"

namespace onenip {

/// A Philox random generator whose whole state is (seed, offset).
class Generator {
public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  ///< blocks of 4 numbers drawn so far
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }

  /// Reserve n blocks of 4 uint32; returns the first block's counter.
  uint64_t reserve(uint64_t blocks) {
    uint64_t start = offset_;
    offset_ += blocks;
    return start;
  }

  /// This generator's draws are for a shard of a batch: samples [offset, offset + local) of a
  /// global batch of `global` (data-parallel training sets it for each step). Random tensors whose
  /// leading dim is a multiple of `local` then draw as their rows of the global batch's tensor
  /// (SampleMap), and every rank advances the stream alike. local == 0: no shard.
  struct BatchShard {
    int64_t offset = 0, local = 0, global = 0;
  };
  void set_batch_shard(BatchShard s) { shard_ = s; }
  const BatchShard& batch_shard() const { return shard_; }

  /// Reserve the counters of a random tensor of `numel` numbers, `per_block` per counter, whose
  /// leading dim is `rows`: its base counter and how its blocks map to counters.
  std::pair<uint64_t, SampleMap> reserve_rows(int64_t numel, int64_t rows, int64_t per_block, const char* who) {
    const BatchShard& s = shard_;
    if (s.local == 0 || (s.local == s.global && s.offset == 0) || numel == 0)
      return {reserve(uint64_t((numel + per_block - 1) / per_block)), SampleMap{}};
    ONENIP_CHECK(rows > 0 && rows % s.local == 0 && numel % rows == 0 && (numel / rows) % per_block == 0, who,
                 ": a random tensor of ", numel, " numbers in ", rows, " rows cannot be drawn for a shard of ", s.local,
                 " of ", s.global, " samples (its rows must be whole copies of the shard, each a multiple of ",
                 per_block, " numbers)");
    const SampleMap map{numel / rows, s.local, s.global, s.offset};
    const int64_t global_numel = rows / s.local * s.global * map.per_sample;
    return {reserve(uint64_t((global_numel + per_block - 1) / per_block)), map};
  }

  /// The 4 uint32 of block `counter` (pure: same inputs, same outputs; core/philox.hpp).
  std::array<uint32_t, 4> block(uint64_t counter) const {
    const PhiloxBlock b = philox4x32_10(counter, seed_);
    return {b.w[0], b.w[1], b.w[2], b.w[3]};
  }

  /// Convenience draws for host-side decisions (data order, synthesis parameters).
  double uniform() { return to_unit(block(reserve(1))[0]); }           ///< [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int64_t randint(int64_t lo, int64_t hi_exclusive) {                   // [lo, hi)
    auto b = block(reserve(1));
    uint64_t r = (uint64_t(b[0]) << 32) | b[1];
    return lo + int64_t(r % uint64_t(hi_exclusive - lo));
  }
  double normal() {
    auto b = block(reserve(1));
    return box_muller(b[0], b[1]);
  }

  static double to_unit(uint32_t x) { return philox_unit(x); }  ///< (0,1)
  static double box_muller(uint32_t a, uint32_t b) {
    double u1 = to_unit(a), u2 = to_unit(b);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  BatchShard shard_;
};

/// Sets a generator's batch shard for a scope and puts the previous one back.
class BatchShardGuard {
public:
  BatchShardGuard(Generator& gen, Generator::BatchShard shard) : gen_(gen), saved_(gen.batch_shard()) {
    gen.set_batch_shard(shard);
  }
  ~BatchShardGuard() { gen_.set_batch_shard(saved_); }
  BatchShardGuard(const BatchShardGuard&) = delete;
  BatchShardGuard& operator=(const BatchShardGuard&) = delete;

private:
  Generator& gen_;
  Generator::BatchShard saved_;
};

/// The process-wide default generator (seeded with manual_seed).
inline Generator& default_generator() {
  static Generator g(0x5eed);
  return g;
}
inline void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace onenip

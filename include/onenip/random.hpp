// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
//
// Element i of a fill draws from counter (offset + i / 4), so the values depend only on
// the seed and how many numbers were drawn before, never on the thread count or on how
// the work is split. The generator's whole state is (seed, offset): two integers to save
// in a checkpoint.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "core/philox.hpp"

namespace onenip {

class Generator {
public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // blocks of 4 numbers drawn so far
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }

  // Reserve n blocks of 4 uint32; returns the first block's counter.
  uint64_t reserve(uint64_t blocks) {
    uint64_t start = offset_;
    offset_ += blocks;
    return start;
  }

  // The 4 uint32 of block `counter` (pure: same inputs, same outputs; core/philox.hpp).
  std::array<uint32_t, 4> block(uint64_t counter) const {
    const PhiloxBlock b = philox4x32_10(counter, seed_);
    return {b.w[0], b.w[1], b.w[2], b.w[3]};
  }

  // Convenience draws for host-side decisions (data order, synthesis parameters).
  double uniform() { return to_unit(block(reserve(1))[0]); }           // [0, 1)
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

  static double to_unit(uint32_t x) { return philox_unit(x); }  // (0,1)
  static double box_muller(uint32_t a, uint32_t b) {
    double u1 = to_unit(a), u2 = to_unit(b);
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

private:
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide default generator (seeded with manual_seed).
inline Generator& default_generator() {
  static Generator g(0x5eed);
  return g;
}
inline void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace onenip

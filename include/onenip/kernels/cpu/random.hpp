// CPU random fills and dropout: blocks of the Philox stream in parallel (the split does not
// change any number).
#pragma once

#include <algorithm>
#include <bit>
#include <cstring>

#include "../../core/parallel.hpp"
#include "../problems/random.hpp"
#include "philox.hpp"

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

// Dropout's 16-bit draws in memory: element e of a run of blocks is half e % 2 of word
// (e % 8) / 2 of block e / 8 (DropoutMask::keeps), which on a little-endian host is simply
// the e-th 16-bit half of the blocks' bytes; so a run starting anywhere is read in order.
static_assert(std::endian::native == std::endian::little, "dropout reads Philox words as 16-bit halves");

// f[k] = the factor of element e0 + k of `blocks` (scale if kept, else 0), times in[k] when `in`
// is given, for k < n. Vectorised by the compiler: a load, a compare and a select per element.
template <typename T>
void block_factors(const PhiloxBlock* blocks, int64_t e0, int64_t n, uint32_t threshold, T scale, const T* in, T* f) {
  const unsigned char* draws = reinterpret_cast<const unsigned char*>(blocks) + 2 * e0;
  auto factor = [&](int64_t k) {
    uint16_t draw;
    std::memcpy(&draw, draws + 2 * k, sizeof draw);
    return draw >= threshold ? scale : T(0);
  };
  if (in)
    for (int64_t k = 0; k < n; ++k) f[k] = in[k] * factor(k);
  else
    for (int64_t k = 0; k < n; ++k) f[k] = factor(k);
}

// Philox blocks per pass of dropout_factors: 1024 decisions, its buffers on the stack.
inline constexpr int64_t kDropoutChunk = 128;
static_assert(kDropoutChunk % kPhiloxLanes == 0);

// counters[b] = the counter of the mask's block blk0 + b, b < blocks.
inline void dropout_counters(const DropoutMask& mask, int64_t blk0, int64_t blocks, uint64_t* counters) {
  for (int64_t b = 0; b < blocks; ++b) counters[b] = mask.base + mask.map.block(blk0 + b, DropoutMask::kPerBlock);
}

// f[k] = scale if element first + k of the mask is kept, else 0, for k < n; with `in`, f[k] =
// in[k] * that factor (the mask applied in the same pass). The Philox blocks of each chunk are
// computed kPhiloxLanes at a time, then read as draws.
template <typename T>
void dropout_factors(const DropoutMask& mask, int64_t first, int64_t n, T scale, T* f, const T* in = nullptr) {
  constexpr int64_t kPer = DropoutMask::kPerBlock;
  if (mask.drop_all) {
    for (int64_t k = 0; k < n; ++k) f[k] = in ? in[k] * T(0) : T(0);
    return;
  }
  uint64_t counters[kDropoutChunk];
  PhiloxBlock blocks[kDropoutChunk];
  for (int64_t done = 0; done < n;) {
    const int64_t e = first + done, e0 = e % kPer, len = std::min(n - done, kDropoutChunk * kPer - e0);
    const int64_t count = (e0 + len + kPer - 1) / kPer;
    dropout_counters(mask, e / kPer, count, counters);
    philox4x32_10_blocks(counters, count, mask.key.seed(), blocks);
    block_factors(blocks, e0, len, mask.threshold, scale, in ? in + done : nullptr, f + done);
    done += len;
  }
}

// f[r n + k] = the factor of element first + r pitch + k, for rows r < rows and k < n: rows too
// short to fill the vectors alone (attention's rows of a key tile) share them, whole rows per pass.
template <typename T>
void dropout_factor_rows(const DropoutMask& mask, int64_t first, int64_t pitch, int64_t rows, int64_t n, T scale,
                         T* f) {
  constexpr int64_t kPer = DropoutMask::kPerBlock;
  const int64_t most = n / kPer + 2;  // the blocks of one row, at most
  if (mask.drop_all || most > kDropoutChunk) {
    for (int64_t r = 0; r < rows; ++r) dropout_factors(mask, first + r * pitch, n, scale, f + r * n);
    return;
  }
  auto blocks_of = [&](int64_t r) { return ((first + r * pitch) % kPer + n + kPer - 1) / kPer; };
  uint64_t counters[kDropoutChunk];
  PhiloxBlock blocks[kDropoutChunk];
  for (int64_t r0 = 0; r0 < rows; r0 += kDropoutChunk / most) {
    const int64_t r1 = std::min(rows, r0 + kDropoutChunk / most);
    int64_t count = 0;  // row r's blocks follow row r - 1's
    for (int64_t r = r0; r < r1; ++r) {
      dropout_counters(mask, (first + r * pitch) / kPer, blocks_of(r), counters + count);
      count += blocks_of(r);
    }
    philox4x32_10_blocks(counters, count, mask.key.seed(), blocks);
    const PhiloxBlock* row_blocks = blocks;
    for (int64_t r = r0; r < r1; row_blocks += blocks_of(r), ++r)
      block_factors(row_blocks, (first + r * pitch) % kPer, n, mask.threshold, scale, static_cast<const T*>(nullptr),
                    f + r * n);
  }
}

template <typename T>
void dropout(const DropoutProblem<T>& p) {
  constexpr int64_t Grain = 16384;
  parallel_for((p.n + Grain - 1) / Grain, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t s = c * Grain;
      dropout_factors(*p.mask, s, std::min(Grain, p.n - s), p.scale, p.out + s, p.in + s);
    }
  });
}

}  // namespace onenip::kernels::cpu

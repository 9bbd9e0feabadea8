// Philox4x32-10 on many counters at once, for the CPU kernels: the block function of
// core/philox.hpp on 16 counters (AVX-512: two vectors, a counter per 64-bit lane) or 8 (AVX2: a
// counter per 32-bit lane), chosen at compile time like simd.hpp; other targets call the scalar
// function per counter.
// Bit for bit the words of philox4x32_10. A CPU-kernel header rather than core/: core/philox.hpp
// is compiled by nvcc for the device and seen by every CUDA source, which must not meet x86
// intrinsics.
#pragma once

#include <algorithm>
#include <cstdint>

#include "../../core/philox.hpp"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace onenip::kernels::cpu {

namespace philox_lanes {

#if defined(__AVX512F__)
using VecU = __m512i;
inline constexpr int kLanes = 16;
inline VecU xor3(VecU a, VecU b, VecU c) { return _mm512_ternarylogic_epi32(a, b, c, 0x96); }
// Words w[0..3] (word k of counter l in lane l of w[k]) stored as blocks out[0..15].
inline void store_blocks(const VecU w[4], PhiloxBlock* out) {
  // A 4 x 4 transpose within each 128-bit lane q: t_j holds block 4q + j in its lane q...
  const VecU a = _mm512_unpacklo_epi32(w[0], w[1]), b = _mm512_unpacklo_epi32(w[2], w[3]);
  const VecU c = _mm512_unpackhi_epi32(w[0], w[1]), d = _mm512_unpackhi_epi32(w[2], w[3]);
  const VecU t0 = _mm512_unpacklo_epi64(a, b), t1 = _mm512_unpackhi_epi64(a, b);
  const VecU t2 = _mm512_unpacklo_epi64(c, d), t3 = _mm512_unpackhi_epi64(c, d);
  // ...then a 4 x 4 transpose of the 128-bit lanes, out vector q taking lane q of t0..t3 (blocks
  // 4q..4q + 3), through u0..u3 = blocks {0, 8, 1, 9}, {2, 10, 3, 11}, {4, 12, 5, 13}, {6, 14, 7, 15}.
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);
  const VecU u0 = _mm512_shuffle_i32x4(t0, t1, kEven), u1 = _mm512_shuffle_i32x4(t2, t3, kEven);
  const VecU u2 = _mm512_shuffle_i32x4(t0, t1, kOdd), u3 = _mm512_shuffle_i32x4(t2, t3, kOdd);
  _mm512_storeu_si512(out + 0, _mm512_shuffle_i32x4(u0, u1, kEven));
  _mm512_storeu_si512(out + 4, _mm512_shuffle_i32x4(u2, u3, kEven));
  _mm512_storeu_si512(out + 8, _mm512_shuffle_i32x4(u0, u1, kOdd));
  _mm512_storeu_si512(out + 12, _mm512_shuffle_i32x4(u2, u3, kOdd));
}
#elif defined(__AVX2__)
using VecU = __m256i;
inline constexpr int kLanes = 8;
inline VecU load(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline VecU splat(uint32_t x) { return _mm256_set1_epi32(int(x)); }
inline VecU xor3(VecU a, VecU b, VecU c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
// The high and low words of the 64-bit products a * m per lane: vpmuludq multiplies the even
// lanes (the low halves of 64-bit lanes), so the odd lanes are shifted down and multiplied apart.
inline void mul_wide(VecU a, VecU m, VecU& hi, VecU& lo) {
  const VecU even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}
// As for AVX-512, with two 128-bit lanes.
inline void store_blocks(const VecU w[4], PhiloxBlock* out) {
  const VecU a = _mm256_unpacklo_epi32(w[0], w[1]), b = _mm256_unpacklo_epi32(w[2], w[3]);
  const VecU c = _mm256_unpackhi_epi32(w[0], w[1]), d = _mm256_unpackhi_epi32(w[2], w[3]);
  const VecU t0 = _mm256_unpacklo_epi64(a, b), t1 = _mm256_unpackhi_epi64(a, b);  // blocks {0, 4}, {1, 5}
  const VecU t2 = _mm256_unpacklo_epi64(c, d), t3 = _mm256_unpackhi_epi64(c, d);  // {2, 6}, {3, 7}
  auto store = [&](int at, VecU v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + at), v); };
  store(0, _mm256_permute2x128_si256(t0, t1, 0x20));
  store(2, _mm256_permute2x128_si256(t2, t3, 0x20));
  store(4, _mm256_permute2x128_si256(t0, t1, 0x31));
  store(6, _mm256_permute2x128_si256(t2, t3, 0x31));
}
#else
inline constexpr int kLanes = 8;  // the scalar function per counter, in groups like the vectors'
#endif

}  // namespace philox_lanes

// Blocks per philox4x32_10_lanes call.
inline constexpr int64_t kPhiloxLanes = philox_lanes::kLanes;

// out[l] = philox4x32_10(counters[l], key) for l < kPhiloxLanes, the ten rounds run on all lanes at once.
inline void philox4x32_10_lanes(const uint64_t* counters, uint64_t key, PhiloxBlock* out) {
#if defined(__AVX512F__)
  // Each word in the low half of a 64-bit lane (8 counters per vector, two vectors): vpmuludq
  // then gives the whole 64-bit product a * m with no shuffles, its high word one shift away,
  // its low word in place. The high halves of the lanes hold garbage that vpmuludq ignores and
  // the final gather drops: 12 operations a round instead of 16.
  using namespace philox_lanes;
  const VecU m0 = _mm512_set1_epi64(0xD2511F53), m1 = _mm512_set1_epi64(0xCD9E8D57);
  VecU c[2][4];
  for (int h = 0; h < 2; ++h) {
    const VecU both = _mm512_loadu_si512(counters + 8 * h);  // low word | high word << 32
    c[h][0] = both, c[h][1] = _mm512_srli_epi64(both, 32), c[h][2] = c[h][3] = _mm512_setzero_si512();
  }
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const VecU key0 = _mm512_set1_epi64(k0), key1 = _mm512_set1_epi64(k1);
    for (int h = 0; h < 2; ++h) {
      const VecU p0 = _mm512_mul_epu32(c[h][0], m0), p1 = _mm512_mul_epu32(c[h][2], m1);
      c[h][0] = xor3(_mm512_srli_epi64(p1, 32), c[h][1], key0);
      c[h][2] = xor3(_mm512_srli_epi64(p0, 32), c[h][3], key1);
      c[h][1] = p1;
      c[h][3] = p0;
    }
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Word k of all 16 counters: the low halves of both vectors' lanes, in order.
  const VecU low_halves = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  VecU w[4];
  for (int k = 0; k < 4; ++k) w[k] = _mm512_permutex2var_epi32(c[0][k], low_halves, c[1][k]);
  store_blocks(w, out);
#elif defined(__AVX2__)
  using namespace philox_lanes;
  uint32_t lo[kLanes], hi[kLanes];
  for (int l = 0; l < kLanes; ++l) lo[l] = uint32_t(counters[l]), hi[l] = uint32_t(counters[l] >> 32);
  // c[0..3]: the four words of every lane's counter, as in philox4x32_10.
  VecU c[4] = {load(lo), load(hi), splat(0), splat(0)};
  const VecU m0 = splat(0xD2511F53u), m1 = splat(0xCD9E8D57u);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  for (int round = 0; round < 10; ++round) {
    VecU hi0, lo0, hi1, lo1;
    mul_wide(c[0], m0, hi0, lo0);
    mul_wide(c[2], m1, hi1, lo1);
    c[0] = xor3(hi1, c[1], splat(k0));
    c[2] = xor3(hi0, c[3], splat(k1));
    c[1] = lo1;
    c[3] = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  store_blocks(c, out);
#else
  for (int64_t l = 0; l < kPhiloxLanes; ++l) out[l] = philox4x32_10(counters[l], key);
#endif
}

// out[i] = philox4x32_10(counters[i], key) for i < n, kPhiloxLanes at a time (a last partial
// group computed on padded counters).
inline void philox4x32_10_blocks(const uint64_t* counters, int64_t n, uint64_t key, PhiloxBlock* out) {
  int64_t i = 0;
  for (; i + kPhiloxLanes <= n; i += kPhiloxLanes) philox4x32_10_lanes(counters + i, key, out + i);
  if (i == n) return;
  uint64_t padded[kPhiloxLanes] = {};
  PhiloxBlock tail[kPhiloxLanes];
  std::copy(counters + i, counters + n, padded);
  philox4x32_10_lanes(padded, key, tail);
  std::copy(tail, tail + (n - i), out + i);
}

}  // namespace onenip::kernels::cpu

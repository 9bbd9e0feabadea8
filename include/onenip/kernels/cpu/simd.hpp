// Float vectors for the CPU micro-kernels, chosen at compile time (no run-time dispatch): AVX-512
// (16 lanes), AVX2 + FMA (8 lanes, x86-64-v3), else GCC/Clang generic 4-lane vectors the compiler
// lowers to whatever the target has. The arithmetic operators are the compiler's vector
// extensions; only the fused multiply-add needs an intrinsic (with -std=c++20 rather than gnu++20
// the compiler would not contract a * b + c).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace onenip::kernels::cpu::simd {

#if defined(__AVX512F__)
using VecF = __m512;
inline constexpr int kLanes = 16, kRegisters = 32;
#elif defined(__AVX2__) && defined(__FMA__)
using VecF = __m256;
inline constexpr int kLanes = 8, kRegisters = 16;
#else
using VecF = float __attribute__((vector_size(16)));
inline constexpr int kLanes = 4, kRegisters = 16;
#endif
using VecI = int32_t __attribute__((vector_size(sizeof(VecF))));

inline VecF load(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }
inline VecF splat(float x) {
#if defined(__AVX512F__)
  return _mm512_set1_ps(x);
#elif defined(__AVX2__) && defined(__FMA__)
  return _mm256_set1_ps(x);
#else
  return VecF{x, x, x, x};
#endif
}
inline VecF max(VecF a, VecF b) { return a > b ? a : b; }

// a * b + c, rounded once where the target has FMA.
inline VecF fmadd(VecF a, VecF b, VecF c) {
#if defined(__AVX512F__)
  return _mm512_fmadd_ps(a, b, c);
#elif defined(__AVX2__) && defined(__FMA__)
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}

// dst[c ldd + r] = src[r lds + c] for r, c < kLanes: one square block transposed (the packing
// of a transposed GEMM operand). AVX-512: sixteen row loads, four rounds of shuffles (pairs of
// floats, of 64-bit halves, then of 128-bit quarters twice) and sixteen row stores.
inline void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
#if defined(__AVX512F__)
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44), r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44), r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 16; i += 8)
    for (int j = 0; j < 4; ++j)
      t[i + j] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0x88),
      t[i + j + 4] = _mm512_shuffle_f32x4(r[i + j], r[i + j + 4], 0xDD);
  for (int j = 0; j < 8; ++j)
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88), r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xDD);
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
#else
  for (int r = 0; r < kLanes; ++r)
    for (int c = 0; c < kLanes; ++c) dst[c * ldd + r] = src[r * lds + c];
#endif
}

// exp(x) for x <= 0 (weights relative to their row's max), within 2 ulp; exactly 0 for x = -inf
// and below -87.3, where float exp leaves the normal range. Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-7 polynomial for exp(r), 2^n built in the exponent bits.
inline VecF exp_nonpositive(VecF x) {
  const VecF lo = splat(-87.3f);
#if defined(__AVX512F__)
  // The same steps, with 2^n applied by one scalef that also zeroes the lanes below lo (which
  // may hold -inf and so NaN on the way): 14 instructions instead of 19, the same bits.
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
#else
  const VecI keep = x >= lo;
  x = max(x, lo);
#endif
  // Round to nearest by adding and removing 1.5 * 2^23 (|x log2 e| < 2^22 here).
  const VecF round = splat(12582912.f);
  const VecF n = (x * 1.44269504088896341f + round) - round;
  const VecF r = fmadd(n, splat(2.12194440e-4f), fmadd(n, splat(-0.693359375f), x));
  VecF p = splat(1.9875691500e-4f);
  p = fmadd(p, r, splat(1.3981999507e-3f));
  p = fmadd(p, r, splat(8.3334519073e-3f));
  p = fmadd(p, r, splat(4.1665795894e-2f));
  p = fmadd(p, r, splat(1.6666665459e-1f));
  p = fmadd(p, r, splat(5.0000001201e-1f));
  p = fmadd(p * r, r, r) + 1.f;
#if defined(__AVX512F__)
  return _mm512_maskz_scalef_ps(keep, p, n);
#else
  const VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23;  // 2^n, n in [-126, 0]
  return (VecF)((VecI)(p * (VecF)bits) & keep);
#endif
}

}  // namespace onenip::kernels::cpu::simd

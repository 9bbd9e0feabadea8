// Tensor-core tiles for the GEMM: C[16x16] (FP32) += A[16xK] B[Kx16] with A and B rounded to
// TF32 (K = 8) or BF16 (K = 16). Under nvcc this is nvcuda::wmma (sm_80+); under the SIMT
// emulator the same few calls are warp collectives that round like the hardware and sum in FP32.
//
// Fragments are opaque: they are filled from and written to shared memory only (row-major, with
// a leading dimension ldm), so no code depends on which lane holds which element.
//
//   typename mma::Tile<P>::A a; typename mma::Tile<P>::B b; typename mma::Tile<P>::C c;
//   mma::fill(c, 0.f);
//   mma::load_a<P>(a, smem_a, lda); mma::load_b<P>(b, smem_b, ldb);  // every lane of the warp
//   mma::mma<P>(c, a, b);
//   mma::store(smem_c, c, ldc); __syncwarp();                        // then read smem_c
//
// Shared memory holds mma::input_t<P> values, written with mma::to_input<P>(float), which does
// the rounding (round to nearest for TF32, as cvt.rna; round to nearest even for BF16).
// Pointers given to load / store must be 32-byte aligned and ldm a multiple of 16 bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "simt/portable.cuh"

#if !ONENIP_SIMT_EMULATED
#include <cuda_bf16.h>
#include <mma.h>
#endif

namespace onenip::cuda::mma {

enum class Precision { TF32, BF16 };

constexpr int kM = 16, kN = 16;
template <Precision P>
constexpr int kK = P == Precision::TF32 ? 8 : 16;

#if !ONENIP_SIMT_EMULATED
// ---------------------------------------------------------------- nvcc: nvcuda::wmma
namespace wmma = nvcuda::wmma;

template <Precision P> struct Types;
template <> struct Types<Precision::TF32> {
  using input = float;  // a float holding a TF32 value
  using frag = wmma::precision::tf32;
};
template <> struct Types<Precision::BF16> {
  using input = __nv_bfloat16;
  using frag = __nv_bfloat16;
};
template <Precision P>
using input_t = typename Types<P>::input;

template <Precision P>
struct Tile {
  using A = wmma::fragment<wmma::matrix_a, kM, kN, kK<P>, typename Types<P>::frag, wmma::row_major>;
  using B = wmma::fragment<wmma::matrix_b, kM, kN, kK<P>, typename Types<P>::frag, wmma::row_major>;
  using C = wmma::fragment<wmma::accumulator, kM, kN, kK<P>, float>;
};

template <Precision P>
__device__ __forceinline__ input_t<P> to_input(float x) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  if constexpr (P == Precision::TF32) return wmma::__float_to_tf32(x);
  else return __float2bfloat16_rn(x);
#else
  return input_t<P>(x);
#endif
}

template <typename C>
__device__ __forceinline__ void fill(C& c, float v) { wmma::fill_fragment(c, v); }

template <Precision P>
__device__ __forceinline__ void load_a(typename Tile<P>::A& a, const input_t<P>* p, int ldm) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  wmma::load_matrix_sync(a, p, unsigned(ldm));
#endif
}
template <Precision P>
__device__ __forceinline__ void load_b(typename Tile<P>::B& b, const input_t<P>* p, int ldm) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  wmma::load_matrix_sync(b, p, unsigned(ldm));
#endif
}
template <Precision P>
__device__ __forceinline__ void mma(typename Tile<P>::C& c, const typename Tile<P>::A& a, const typename Tile<P>::B& b) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  wmma::mma_sync(c, a, b, c);
#endif
}
template <typename C>
__device__ __forceinline__ void store(float* p, const C& c, int ldm) {
  wmma::store_matrix_sync(p, c, unsigned(ldm), wmma::mem_row_major);
}

#else
// ---------------------------------------------------------------- the emulator
// BF16 as its 16 bits (the upper half of a float).
struct bf16 {
  uint16_t bits;
};

template <Precision P>
using input_t = std::conditional_t<P == Precision::TF32, float, bf16>;

inline float to_float(float x) { return x; }
inline float to_float(bf16 x) {
  const uint32_t u = uint32_t(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <Precision P>
inline input_t<P> to_input(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const bool finite = (u & 0x7f800000u) != 0x7f800000u;
  if constexpr (P == Precision::TF32) {
    // cvt.rna.tf32.f32: keep 10 mantissa bits, round half away from zero (add half an ulp to
    // the magnitude, then cut the 13 low bits; a carry into the exponent is the right result).
    if (!finite) return x;
    u = (u + 0x1000u) & 0xffffe000u;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  } else {
    // __float2bfloat16_rn: round to nearest even on the 16 dropped bits; NaN stays a NaN.
    if (!finite) return bf16{uint16_t((u >> 16) | ((u & 0x007fffffu) ? 0x40u : 0u))};
    u += 0x7fffu + ((u >> 16) & 1u);
    return bf16{uint16_t(u >> 16)};
  }
}

// Every lane holds the whole A and B tiles (so it can form any product) and 8 of the 256
// accumulator elements: element e belongs to lane e % 32. A private layout: nothing outside
// this header sees it.
template <Precision P>
struct Tile {
  struct A {
    float x[kM][kK<P>];
  };
  struct B {
    float x[kK<P>][kN];
  };
  struct C {
    float x[kM * kN / 32];
  };
};

template <typename C>
inline void fill(C& c, float v) {
  for (float& e : c.x) e = v;
}

// A warp collective: every lane reaches the meeting point before any lane reads, as with
// load_matrix_sync, so the tile holds what the whole warp wrote before the call.
template <Precision P>
inline void load_a(typename Tile<P>::A& a, const input_t<P>* p, int ldm) {
  __syncwarp();
  for (int i = 0; i < kM; ++i)
    for (int k = 0; k < kK<P>; ++k) a.x[i][k] = to_float(p[i * ldm + k]);
}
template <Precision P>
inline void load_b(typename Tile<P>::B& b, const input_t<P>* p, int ldm) {
  __syncwarp();
  for (int k = 0; k < kK<P>; ++k)
    for (int j = 0; j < kN; ++j) b.x[k][j] = to_float(p[k * ldm + j]);
}

// The products of rounded inputs are exact in FP32 (at most 22 significant bits); they are
// summed in FP32, in k order, onto the accumulator.
template <Precision P>
inline void mma(typename Tile<P>::C& c, const typename Tile<P>::A& a, const typename Tile<P>::B& b) {
  __syncwarp();  // mma_sync is a warp collective too: every lane takes part
  const int lane = int(simt::emu::lane_id());
  for (int r = 0; r < kM * kN / 32; ++r) {
    const int e = r * 32 + lane, i = e / kN, j = e % kN;
    float s = 0.f;
    for (int k = 0; k < kK<P>; ++k) s += a.x[i][k] * b.x[k][j];
    c.x[r] += s;
  }
}

template <typename C>
inline void store(float* p, const C& c, int ldm) {
  __syncwarp();
  const int lane = int(simt::emu::lane_id());
  for (int r = 0; r < kM * kN / 32; ++r) {
    const int e = r * 32 + lane;
    p[(e / kN) * ldm + e % kN] = c.x[r];
  }
}
#endif

}  // namespace onenip::cuda::mma

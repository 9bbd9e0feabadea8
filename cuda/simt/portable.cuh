// What every kernel source under cuda/ is written against: CUDA itself under nvcc, the SIMT
// emulator (emulator.hpp) under a host compiler. Kernel code reads as plain CUDA with three
// exceptions, because `extern __shared__` and the launch syntax are not host C++:
//
//   ONENIP_SHARED(float[32][33], tile);   // static shared memory:  __shared__ float tile[32][33];
//   ONENIP_DYNAMIC_SHARED(float, buf);     // dynamic:  extern __shared__ float buf[];
//   simt::launch(cfg, kernel<T>, args...); // kernel<T><<<grid, block, shared, stream>>>(args...)
//
// and uses simt::min_of / max_of where CUDA code would call the device overloads of min / max.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#define ONENIP_SIMT_EMULATED 0
#include "launch_config.hpp"
#else
#include "emulator.hpp"
#define ONENIP_SIMT_EMULATED 1
#endif

namespace onenip::simt {

template <typename T>
using identity_t = T;

}  // namespace onenip::simt

#if ONENIP_SIMT_EMULATED
// ---- CUDA's keywords and intrinsics as host C++ ----
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __constant__
#define __align__(n) alignas(n)

#define __syncthreads() ::onenip::simt::emu::sync_threads(__FILE__, __LINE__)
#define __syncwarp(...) ::onenip::simt::emu::sync_warp_at(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(...) ::onenip::simt::emu::shfl_at<::onenip::simt::emu::src_idx>("__shfl_sync()", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_xor_sync(...) ::onenip::simt::emu::shfl_at<::onenip::simt::emu::src_xor>("__shfl_xor_sync()", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_down_sync(...) ::onenip::simt::emu::shfl_at<::onenip::simt::emu::src_down>("__shfl_down_sync()", __FILE__, __LINE__, __VA_ARGS__)
#define __shfl_up_sync(...) ::onenip::simt::emu::shfl_at<::onenip::simt::emu::src_up>("__shfl_up_sync()", __FILE__, __LINE__, __VA_ARGS__)
#define __ballot_sync(mask, pred) ::onenip::simt::emu::warp_vote("__ballot_sync()", (mask), bool(pred), __FILE__, __LINE__)
#define __any_sync(mask, pred) (::onenip::simt::emu::warp_vote("__any_sync()", (mask), bool(pred), __FILE__, __LINE__) != 0u)
#define __all_sync(mask, pred) (::onenip::simt::emu::warp_vote("__all_sync()", (mask), bool(pred), __FILE__, __LINE__) == unsigned(mask))

namespace onenip::simt::emu {
inline void sync_warp_at(const char* file, int line, unsigned mask = 0xffffffffu) { sync_warp(mask, file, line); }
template <int (*Src)(int, int, int), typename T>
T shfl_at(const char* kind, const char* file, int line, unsigned mask, T v, int arg, int width = 32) {
  return shfl(kind, mask, v, Src(int(lane_id()), arg, width), file, line);
}
}  // namespace onenip::simt::emu

// Atomics: the fibers of one block never run at once, so a plain read-modify-write is atomic.
// Float additions make the result depend on the order of threads: the launch must say so.
inline float atomicAdd(float* p, float v) { ::onenip::simt::emu::note_float_atomic(); float o = *p; *p = o + v; return o; }
inline double atomicAdd(double* p, double v) { ::onenip::simt::emu::note_float_atomic(); double o = *p; *p = o + v; return o; }
inline int atomicAdd(int* p, int v) { int o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned* p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { auto o = *p; *p = o + v; return o; }
inline int atomicMax(int* p, int v) { int o = *p; *p = o > v ? o : v; return o; }
inline int atomicMin(int* p, int v) { int o = *p; *p = o < v ? o : v; return o; }
inline unsigned atomicMax(unsigned* p, unsigned v) { unsigned o = *p; *p = o > v ? o : v; return o; }
inline int atomicExch(int* p, int v) { int o = *p; *p = v; return o; }
inline int atomicCAS(int* p, int cmp, int v) { int o = *p; if (o == cmp) *p = v; return o; }
inline unsigned long long atomicCAS(unsigned long long* p, unsigned long long cmp, unsigned long long v) { auto o = *p; if (o == cmp) *p = v; return o; }

// Fast-math intrinsics: the emulator computes them exactly; their device error bounds are in
// the tolerances of the tests that use them.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __saturatef(float x) { return x < 0.f ? 0.f : x > 1.f ? 1.f : x; }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned((uint64_t(a) * b) >> 32); }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; std::memcpy(&x, &u, 4); return x; }
template <typename T> inline T __ldg(const T* p) { return *p; }

#define ONENIP_SHARED(type, name)                                                                              \
  ::onenip::simt::identity_t<type>& name = *static_cast<::onenip::simt::identity_t<type>*>(                    \
      ::onenip::simt::emu::static_shared([] { static const char site = 0; return static_cast<const void*>(&site); }(), \
                                         sizeof(type), alignof(type) < 16 ? 16 : alignof(type), __FILE__, __LINE__))
#define ONENIP_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(::onenip::simt::emu::dynamic_shared())
#else
#define ONENIP_SHARED(type, name) __shared__ __align__(16) ::onenip::simt::identity_t<type> name
#define ONENIP_DYNAMIC_SHARED(type, name)                              \
  extern __shared__ __align__(16) unsigned char onenip_dynamic_shared_[]; \
  type* name = reinterpret_cast<type*>(onenip_dynamic_shared_)
#endif

namespace onenip::simt {
template <typename T>
__host__ __device__ __forceinline__ T min_of(T a, T b) { return b < a ? b : a; }
template <typename T>
__host__ __device__ __forceinline__ T max_of(T a, T b) { return a < b ? b : a; }
// Ceil(a / b) for launch sizes.
__host__ __device__ __forceinline__ int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
}  // namespace onenip::simt

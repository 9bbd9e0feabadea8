// The problem structs of attention kernels: what every backend is given (see kernels/attention.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "gemm.hpp"
#include "random.hpp"

namespace onenip::kernels {

// One of q / k / v: element [b, h, t, d] at p[b sb + h sh + t st + d] (unit stride along d).
template <typename T>
struct AttnOperand {
  const T* p = nullptr;
  int64_t sb = 0, sh = 0, st = 0;
  const T* at(int64_t b, int64_t h, int64_t t) const { return p + b * sb + h * sh + t * st; }
};

// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv]; additive mask element [b, h, i, j] at
// mask[b mb + h mh + i mi + j mj] (0 strides broadcast; null: none); dropout on the attention
// weights from `drop` (null: none), kept weights scaled by drop_scale.
// Forward writes out [B, H, Tq, Dv] (contiguous) and lse [B H Tq], each row's log-sum-exp
// (+inf for a row with every key masked). Backward reads out, lse and grad_out [B, H, Tq, Dv]
// and overwrites dq, dk, dv (contiguous, the shapes of q, k, v). Tk >= 1. precision: the
// products' (MathPrecision; the CUDA backend's tensor cores for float, the CPU ignores it).
template <typename T>
struct AttentionProblem {
  Device device = Device::CPU;
  int64_t B = 0, H = 0, Tq = 0, Tk = 0, D = 0, Dv = 0;
  T scale = 1;
  AttnOperand<T> q, k, v;
  const T* mask = nullptr;
  int64_t mb = 0, mh = 0, mi = 0, mj = 0;
  const DropoutMask* drop = nullptr;
  T drop_scale = 1;
  T* out = nullptr;
  T* lse = nullptr;
  const T* grad_out = nullptr;
  T* dq = nullptr;
  T* dk = nullptr;
  T* dv = nullptr;
  MathPrecision precision = MathPrecision::FP32;
};

}  // namespace onenip::kernels

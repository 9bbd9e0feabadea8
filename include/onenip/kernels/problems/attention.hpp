// The problem structs of attention kernels: what every backend is given (see kernels/attention.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"
#include "gemm.hpp"
#include "random.hpp"

namespace onenip::kernels {

// The rows of one [T, D] matrix (one (b, h) of an operand, or a scratch buffer): row t at p + t ld.
template <typename Ptr>
struct AttnRows {
  Ptr p = nullptr;
  int64_t ld = 0;
  Ptr row(int64_t t) const { return p + t * ld; }
};

// One of q / k / v / out / grad_out / dq / dk / dv: element [b, h, t, d] at
// p[b sb + h sh + t st + d] (unit stride along d). Ptr: const T* for what a kernel reads, T* for
// what it writes.
template <typename Ptr>
struct AttnStrided {
  Ptr p = nullptr;
  int64_t sb = 0, sh = 0, st = 0;
  Ptr at(int64_t b, int64_t h, int64_t t) const { return p + b * sb + h * sh + t * st; }
  AttnRows<Ptr> head(int64_t b, int64_t h) const { return {at(b, h, 0), st}; }
};
template <typename T>
using AttnOperand = AttnStrided<const T*>;
template <typename T>
using AttnResult = AttnStrided<T*>;

// q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv]; additive mask element [b, h, i, j] at
// mask[b mb + h mh + i mi + j mj] (0 strides broadcast; null: none); dropout on the attention
// weights from `drop` (null: none), kept weights scaled by drop_scale.
// Forward writes out [B, H, Tq, Dv] and lse [B H Tq] (contiguous), each row's log-sum-exp (+inf
// for a row with every key masked). Backward reads out, lse and grad_out [B, H, Tq, Dv] and
// overwrites dq, dk, dv (the shapes of q, k, v). out, grad_out, dq, dk and dv may have any
// strides but the unit one along d (the op lays them out as q, k, v are: heads of [B, T, H D]
// in the model, so no copy joins or splits the heads); written ones must not overlap. Tk >= 1.
// precision: the products' (MathPrecision; the CUDA backend's tensor cores for float, the CPU
// ignores it).
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
  AttnResult<T> out;
  T* lse = nullptr;
  AttnOperand<T> grad_out;
  AttnResult<T> dq, dk, dv;
  MathPrecision precision = MathPrecision::FP32;
};

}  // namespace onenip::kernels

// The problem structs of gemm kernels: what every backend is given (see kernels/gemm.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// The math of a float product. FP32: exact float products and sums. TF32 / BF16: tensor-core
// products of A and B rounded to TF32 (10 mantissa bits, round to nearest) or BF16 (7 bits,
// round to nearest even), summed in FP32. Only the CUDA backend honours it, for float; the CPU
// backend and double products always compute exactly (FP32), whatever is asked.
enum class MathPrecision { FP32, TF32, BF16 };

// C (= or +=) A @ B for one or more products. A [M, K]: element (i, k) at a[i a_rs + k a_cs];
// B [K, N] likewise; at least one stride of each is 1, or the operand is a single row or
// column (any stride then). C [M, N] is row-major with leading dimension ldc (>= N).
// With bias_row [N] (one product only), C = bias_row + A @ B, the bias repeated on every row
// (linear's bias, added with no extra pass).
// Batches: product `i` of `batch` (row-major index over the batch dims) reads A and B at the
// offsets given by a_batch_strides / b_batch_strides (0 where an operand is broadcast) and
// writes C at c + i c_batch_stride.
// precision: see MathPrecision (the ops fill it from onenip::matmul_precision()).
template <typename T>
struct GemmProblem {
  Device device = Device::CPU;
  int64_t M = 0, N = 0, K = 0;
  const T* a = nullptr;
  int64_t a_rs = 0, a_cs = 1;
  const T* b = nullptr;
  int64_t b_rs = 0, b_cs = 1;
  T* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
  const T* bias_row = nullptr;
  Shape batch, a_batch_strides, b_batch_strides;
  int64_t c_batch_stride = 0;
  MathPrecision precision = MathPrecision::FP32;
};

}  // namespace onenip::kernels

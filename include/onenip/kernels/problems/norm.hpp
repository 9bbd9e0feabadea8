// The problem structs of norm kernels: what every backend is given (see kernels/norm.hpp).
// Plain data and pointers, no tensors, so backend sources (cuda/) include them without the library.
#pragma once

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "../../core/shape.hpp"

namespace onenip::kernels {

// y [rows, C] = (x - mean) rstd * w + b per row of x [rows, C]; w, b [C] or null. Also writes
// each row's mean and rstd = 1 / sqrt(var + eps) [rows] for the backward.
template <typename T>
struct LayerNormProblem {
  Device device = Device::CPU;
  int64_t rows = 0, C = 0;
  double eps = 1e-5;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* b = nullptr;
  T* y = nullptr;
  T* mean = nullptr;
  T* rstd = nullptr;
};

// From x, w (or null), the forward's mean and rstd, and the output gradient g [rows, C]: dx
// [rows, C] (null: not needed), and dw, db [C] (null: not needed). All overwritten.
template <typename T>
struct LayerNormBackwardProblem {
  Device device = Device::CPU;
  int64_t rows = 0, C = 0;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* mean = nullptr;
  const T* rstd = nullptr;
  const T* g = nullptr;
  T* dx = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
};

// y [rows, C] = x rstd * w per row of x [rows, C], rstd = 1 / sqrt(mean(x^2) + eps) [rows]
// (written for the backward); w [C] or null.
template <typename T>
struct RMSNormProblem {
  Device device = Device::CPU;
  int64_t rows = 0, C = 0;
  double eps = 1e-6;
  const T* x = nullptr;
  const T* w = nullptr;
  T* y = nullptr;
  T* rstd = nullptr;
};

// From x, w (or null), the forward's rstd and the output gradient g [rows, C]: dx [rows, C] and
// dw [C] (each null: not needed). With xhat = x rstd and gw = g w:
//   dx = rstd (gw - xhat mean(gw xhat)) per row,  dw = sum over rows of g xhat.
template <typename T>
struct RMSNormBackwardProblem {
  Device device = Device::CPU;
  int64_t rows = 0, C = 0;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* rstd = nullptr;
  const T* g = nullptr;
  T* dx = nullptr;
  T* dw = nullptr;
};

// x, y [N, C, S] (S = the spatial size). training: normalise with the batch statistics and, when
// running_mean / running_var (element c at [c * running_stride]) are given, update them in place
// with PyTorch's rule (momentum; unbiased variance). Eval: normalise with the running ones.
// mean and rstd [C] receive the statistics used.
template <typename T>
struct BatchNormProblem {
  Device device = Device::CPU;
  int64_t N = 0, C = 0, S = 0;
  bool training = true;
  double momentum = 0.1, eps = 1e-5;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* b = nullptr;
  T* running_mean = nullptr;
  T* running_var = nullptr;
  int64_t running_mean_stride = 1, running_var_stride = 1;
  T* y = nullptr;
  T* mean = nullptr;
  T* rstd = nullptr;
};

// dx [N, C, S] (null: not needed), dw = sum(g xhat) and db = sum(g) [C] (null: not needed) from
// x, w (or null), the forward's mean and rstd, and g [N, C, S]. training: the statistics depend
// on x (the batch-statistics terms of dx); eval: they are constants.
template <typename T>
struct BatchNormBackwardProblem {
  Device device = Device::CPU;
  int64_t N = 0, C = 0, S = 0;
  bool training = true;
  const T* x = nullptr;
  const T* w = nullptr;
  const T* mean = nullptr;
  const T* rstd = nullptr;
  const T* g = nullptr;
  T* dx = nullptr;
  T* dw = nullptr;
  T* db = nullptr;
};

}  // namespace onenip::kernels

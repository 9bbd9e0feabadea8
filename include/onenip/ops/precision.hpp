/// \file
/// The process-wide precision of float matrix products (matmul, linear), as PyTorch's
/// torch.backends.cuda.matmul.allow_tf32: the ops copy it into GemmProblem::precision when they
/// fill a problem. Default FP32 (exact). TF32 and BF16 use tensor cores on the CUDA backend; the
/// CPU backend and double products ignore the setting and compute exactly.
#pragma once

#include <atomic>

#include "../kernels/problems/gemm.hpp"

namespace onenip {

using kernels::MathPrecision;

namespace detail {
inline std::atomic<MathPrecision>& matmul_precision_setting() {
  static std::atomic<MathPrecision> p{MathPrecision::FP32};
  return p;
}
}  // namespace detail

inline void set_matmul_precision(MathPrecision p) { detail::matmul_precision_setting().store(p); }
inline MathPrecision matmul_precision() { return detail::matmul_precision_setting().load(); }

inline const char* precision_name(MathPrecision p) {
  switch (p) {
    case MathPrecision::TF32: return "tf32";
    case MathPrecision::BF16: return "bf16";
    default: return "fp32";
  }
}

/// Sets the precision for a scope and puts the previous one back (a backward run inside the
/// scope sees it too; one run after it does not).
class MatmulPrecisionGuard {
public:
  explicit MatmulPrecisionGuard(MathPrecision p) : saved_(matmul_precision()) { set_matmul_precision(p); }
  ~MatmulPrecisionGuard() { set_matmul_precision(saved_); }
  MatmulPrecisionGuard(const MatmulPrecisionGuard&) = delete;
  MatmulPrecisionGuard& operator=(const MatmulPrecisionGuard&) = delete;

private:
  MathPrecision saved_;
};

}  // namespace onenip

/// \file
/// Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_: the L2 norm over all
/// gradients together; when it exceeds max_norm every gradient is scaled by
/// max_norm / (norm + 1e-6). Returns the norm before clipping.
#pragma once

#include <cmath>

#include "../kernels/reduce.hpp"
#include "../ops/elementwise.hpp"

namespace onenip::optim {

namespace detail {
// Sum of squares in double, in fixed blocks so the result does not depend on the thread count.
template <typename T>
double sum_of_squares(const Tensor<T>& t) {
  Tensor<T> c = t.contiguous();
  return kernels::sum_of_squares<T>({c.device(), c.numel(), c.data_ptr()});
}
}  // namespace detail

/// Parameters without a gradient are skipped. A non-finite norm raises when error_if_nonfinite
/// (otherwise, as in PyTorch, the gradients are scaled by a NaN or 0 factor).
template <typename T>
double clip_grad_norm_(const std::vector<Tensor<T>>& params, double max_norm, bool error_if_nonfinite = false) {
  ONENIP_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got ", max_norm);
  double sq = 0;
  for (auto& p : params)
    if (p.grad().defined()) sq += detail::sum_of_squares(p.grad());
  const double total = std::sqrt(sq);
  ONENIP_CHECK(!error_if_nonfinite || std::isfinite(total), "clip_grad_norm_: the total gradient norm is ", total);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1 || !std::isfinite(total)) {
    NoGradGuard ng;
    for (auto& p : params)
      if (Tensor<T> g = p.grad(); g.defined()) g.mul_(T(coef));
  }
  return total;
}

}  // namespace onenip::optim

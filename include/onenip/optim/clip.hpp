// Global gradient-norm clipping, as torch.nn.utils.clip_grad_norm_: the L2 norm over all
// gradients together; when it exceeds max_norm every gradient is scaled by
// max_norm / (norm + 1e-6). Returns the norm before clipping.
#pragma once

#include <cmath>

#include "../ops/elementwise.hpp"

namespace onenip::optim {

namespace detail {
// Sum of squares in double, in fixed blocks so the result does not depend on the thread count.
template <typename T>
double sum_of_squares(const Tensor<T>& t) {
  Tensor<T> c = t.contiguous();
  const T* p = c.data();
  const int64_t n = c.numel(), block = 1 << 14, nb = (n + block - 1) / block;
  std::vector<double> part(size_t(std::max<int64_t>(nb, 1)), 0.0);
  parallel_for(nb, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * block, e = std::min(n, i + block); i < e; ++i) s += double(p[i]) * double(p[i]);
      part[size_t(b)] = s;
    }
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}
}  // namespace detail

// Parameters without a gradient are skipped. A non-finite norm raises when error_if_nonfinite
// (otherwise, as in PyTorch, the gradients are scaled by a NaN or 0 factor).
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

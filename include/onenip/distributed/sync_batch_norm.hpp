/// \file
/// Synchronised batch norm: training statistics over the whole global batch (every rank's
/// samples), so N ranks with B / N samples each normalise exactly as one process with B does.
/// Built from differentiable ops and all_reduce_sum, so backward follows from autograd: the
/// gradients of the shared statistics are summed over the ranks by all_reduce_sum's backward.
/// Two all-reduces (mean, then the centred second moment) keep the variance as stable as the
/// single-process kernel's.
#pragma once

#include "../ops/norm.hpp"
#include "../ops/reduce.hpp"
#include "tensor_ops.hpp"

namespace onenip::distributed {

/// x [N, C, *] in training; running statistics (if given) updated as batch_norm does, from the
/// global statistics (the variance unbiased over the global count).
template <typename T>
Tensor<T> sync_batch_norm(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                          const Tensor<T>& bias, double momentum, double eps, Communicator& comm) {
  ONENIP_CHECK(x.dim() >= 2, "sync_batch_norm: input must be [N, C] or [N, C, *], got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  Shape reduced{0}, stat_shape(size_t(x.dim()), 1);  // stat_shape [1, C, 1, ...] broadcasts over x
  for (int64_t d = 2; d < x.dim(); ++d) reduced.push_back(d);
  stat_shape[1] = C;
  Tensor<double> counts = Tensor<double>::empty({1});  // values per channel, summed over the ranks
  counts.data()[0] = double(x.numel() / std::max<int64_t>(C, 1));
  all_reduce_sum_(counts, comm);
  const double count = counts.data()[0];
  ONENIP_CHECK(count > 1, "sync_batch_norm: training needs more than one value per channel over all ranks");
  Tensor<T> mean = all_reduce_sum(sum(x, reduced, true), comm) * T(1.0 / count);
  Tensor<T> centred = x - mean;
  Tensor<T> var = all_reduce_sum(sum(square(centred), reduced, true), comm) * T(1.0 / count);
  Tensor<T> y = centred / sqrt(var + T(eps));
  if (weight.defined()) y = y * weight.reshape(stat_shape);
  if (bias.defined()) y = y + bias.reshape(stat_shape);
  if (running_mean.defined()) {
    NoGradGuard ng;
    const T m = T(momentum);
    running_mean.copy_(running_mean * (T(1) - m) + mean.detach().reshape({C}) * m);
    running_var.copy_(running_var * (T(1) - m) + var.detach().reshape({C}) * T(momentum * count / (count - 1)));
  }
  return y;
}

}  // namespace onenip::distributed

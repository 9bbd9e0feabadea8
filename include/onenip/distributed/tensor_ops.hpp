/// \file
/// Collectives on tensors: in-place all-reduce and broadcast of a tensor on any device, a
/// differentiable all-reduce (what synchronised batch norm is built from), and the same for a
/// list of tensors laid end to end in one bucket (the trainer's gradients: one collective per
/// step instead of one per parameter).
///
/// A tensor the communicator cannot reach (a CUDA tensor over MPI, a host tensor over NCCL) is
/// copied to the communicator's device, reduced there, and copied back: CUDA training over MPI
/// works without NCCL, through the host.
#pragma once

#include "../autograd.hpp"
#include "../ops/elementwise.hpp"
#include "../ops/join.hpp"
#include "communicator.hpp"

namespace onenip::distributed {

namespace detail {
// Run `collective(pointer, count)` on t's values where `comm` can reach them, then keep the result in t.
template <typename T, typename Collective>
void on_communicator_device(Tensor<T>& t, Communicator& comm, Collective&& collective) {
  NoGradGuard ng;
  if (t.device() == comm.device() && t.is_contiguous()) {
    collective(t.data_ptr(), size_t(t.numel()));
    t.bump_version();
    return;
  }
  Tensor<T> staged = t.device() == comm.device() ? t.contiguous() : t.to(comm.device());
  collective(staged.data_ptr(), size_t(staged.numel()));
  t.copy_(staged);
}
}  // namespace detail

/// In place: t = the sum of t over the ranks.
template <typename T>
void all_reduce_sum_(Tensor<T>& t, Communicator& comm) {
  detail::on_communicator_device(t, comm, [&](T* data, size_t n) { comm.all_reduce_sum(data, n); });
}

/// In place: every rank's t becomes root's.
template <typename T>
void broadcast_(Tensor<T>& t, Communicator& comm, int root = 0) {
  detail::on_communicator_device(t, comm, [&](T* data, size_t n) { comm.broadcast(data, n * sizeof(T), root); });
}

/// out = the sum of x over the ranks. Backward: each rank's x fed every rank's loss, so its
/// gradient is the sum of the ranks' gradients of out: an all-reduce again.
template <typename T>
Tensor<T> all_reduce_sum(const Tensor<T>& x, Communicator& comm) {
  Tensor<T> out = x.detach().contiguous().clone();
  all_reduce_sum_(out, comm);
  return record<T>(out, "AllReduceSum", {x}, [&comm](const Tensor<T>& g) {
    Tensor<T> summed = g.contiguous().clone();
    all_reduce_sum_(summed, comm);
    return std::vector<Tensor<T>>{summed};
  });
}

/// The tensors' values laid end to end in one 1-D tensor on their device (all on one device).
template <typename T>
Tensor<T> flatten_all(const std::vector<Tensor<T>>& tensors) {
  NoGradGuard ng;
  std::vector<Tensor<T>> flat;
  flat.reserve(tensors.size());
  for (auto& t : tensors) flat.push_back(t.detach().reshape({t.numel()}));
  return cat(flat, 0);
}
/// The bucket's values back into the tensors (in the order flatten_all laid them out).
template <typename T>
void unflatten_into(const Tensor<T>& bucket, std::vector<Tensor<T>>& tensors) {
  NoGradGuard ng;
  int64_t at = 0;
  for (auto& t : tensors) {
    t.copy_(bucket.narrow(0, at, t.numel()).reshape(t.shape()));
    at += t.numel();
  }
}

/// Every rank's tensors become root's (parameters at the start of training).
template <typename T>
void broadcast_(std::vector<Tensor<T>> tensors, Communicator& comm, int root = 0) {
  if (comm.size() == 1 || tensors.empty()) return;
  Tensor<T> bucket = flatten_all(tensors);
  broadcast_(bucket, comm, root);
  unflatten_into(bucket, tensors);
}

}  // namespace onenip::distributed

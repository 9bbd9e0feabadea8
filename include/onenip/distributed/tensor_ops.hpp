// Collectives on tensors: a differentiable all-reduce (what synchronised batch norm is built
// from) and in-place helpers for a list of tensors flattened into one buffer (the trainer's
// gradient bucket: one collective per step instead of one per parameter).
#pragma once

#include "../autograd.hpp"
#include "communicator.hpp"

namespace onenip::distributed {

// out = the sum of x over the ranks. Backward: each rank's x fed every rank's loss, so its
// gradient is the sum of the ranks' gradients of out: an all-reduce again.
template <typename T>
Tensor<T> all_reduce_sum(const Tensor<T>& x, Communicator& comm) {
  Tensor<T> out = x.detach().contiguous().clone();
  comm.all_reduce_sum(out.data_ptr(), size_t(out.numel()));
  return record<T>(out, "AllReduceSum", {x}, [&comm](const Tensor<T>& g) {
    Tensor<T> summed = g.contiguous().clone();
    comm.all_reduce_sum(summed.data_ptr(), size_t(summed.numel()));
    return std::vector<Tensor<T>>{summed};
  });
}

// The tensors' values laid end to end in `bucket` (resized), and back.
template <typename T>
void flatten_into(const std::vector<Tensor<T>>& tensors, std::vector<T>& bucket) {
  size_t n = 0;
  for (auto& t : tensors) n += size_t(t.numel());
  bucket.resize(n);
  size_t at = 0;
  for (auto& t : tensors) {
    Tensor<T> c = t.contiguous();
    std::copy(c.data(), c.data() + c.numel(), bucket.data() + at);
    at += size_t(t.numel());
  }
}
template <typename T>
void unflatten_from(const std::vector<T>& bucket, std::vector<Tensor<T>>& tensors) {
  size_t at = 0;
  for (auto& t : tensors) {
    ONENIP_CHECK(t.is_contiguous(), "unflatten_from: tensors must be contiguous");
    std::copy(bucket.data() + at, bucket.data() + at + size_t(t.numel()), t.data());
    t.bump_version();
    at += size_t(t.numel());
  }
}

// Every rank's tensors become root's (parameters at the start of training).
template <typename T>
void broadcast_(std::vector<Tensor<T>> tensors, Communicator& comm, int root = 0) {
  if (comm.size() == 1) return;
  std::vector<T> bucket;
  flatten_into(tensors, bucket);
  comm.broadcast(bucket.data(), bucket.size() * sizeof(T), root);
  unflatten_from(bucket, tensors);
}

}  // namespace onenip::distributed

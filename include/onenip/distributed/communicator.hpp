/// \file
/// Data parallelism's transport: the few collectives a trainer needs (all-reduce, broadcast,
/// barrier) behind one interface, so the trainer does not know whether ranks are processes
/// talking through MPI (distributed/mpi.hpp), GPUs talking through NCCL (distributed/nccl.hpp),
/// or a single process (SingleProcess, below: every collective is the identity).
///
/// The buffers live where the implementation works: host memory for MPI and SingleProcess,
/// device memory for NCCL. Every rank must call the same collectives in the same order with the
/// same sizes (the MPI rule): a trainer does, since every rank runs the same steps.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "../core/device.hpp"

namespace onenip::distributed {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  ///< "single", "mpi", "nccl"
  /// Where the collectives' buffers must live (tensors elsewhere go through a copy there).
  virtual Device device() const { return Device::CPU; }
  /// In place: data[i] = the sum of data[i] over the ranks.
  virtual void all_reduce_sum(float* data, size_t count) = 0;
  virtual void all_reduce_sum(double* data, size_t count) = 0;
  /// In place: every rank gets root's bytes.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;

  bool is_root() const { return rank() == 0; }
};

class SingleProcess final : public Communicator {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  void all_reduce_sum(float*, size_t) override {}
  void all_reduce_sum(double*, size_t) override {}
  void broadcast(void*, size_t, int) override {}
  void barrier() override {}
};

/// Rank r's share [begin, end) of n items split over `size` ranks in order (sizes differ by at most 1).
struct Shard {
  size_t begin, end;
};
inline Shard shard_of(size_t n, int rank, int size) {
  return {n * size_t(rank) / size_t(size), n * size_t(rank + 1) / size_t(size)};
}

}  // namespace onenip::distributed

/// \file
/// The Communicator over NCCL: one GPU per rank, buffers in device memory (CUDA tensors'
/// data_ptr()). NCCL does not start processes or find its peers: a bootstrap communicator
/// (MpiCommunicator across processes, SingleProcess for one rank) carries rank 0's NCCL id to
/// the others, as llm.c does. Implemented in cuda/nccl.cu (ONENIP_CUDA and ONENIP_NCCL); this
/// header includes neither CUDA nor NCCL.
#pragma once

#include <memory>

#include "communicator.hpp"

namespace onenip::distributed {

class NcclCommunicator final : public Communicator {
public:
  /// Same rank and size as `bootstrap`; device -1: local GPU (rank mod the visible GPUs).
  explicit NcclCommunicator(Communicator& bootstrap, int device = -1);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override;
  int size() const override;
  Device device() const override { return Device::CUDA; }
  int gpu() const;  ///< the CUDA device this rank uses
  std::string name() const override { return "nccl"; }
  /// Synchronous, like MPI's: the result is in `data` when they return.
  void all_reduce_sum(float* data, size_t count) override;
  void all_reduce_sum(double* data, size_t count) override;
  void broadcast(void* data, size_t bytes, int root) override;
  void barrier() override;

private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace onenip::distributed

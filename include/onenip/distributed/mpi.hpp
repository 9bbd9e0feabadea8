/// \file
/// The Communicator over MPI (Open MPI, MPICH): processes on one machine or many, host buffers.
/// Only built with the CMake option ONENIP_MPI (it links MPI::MPI_CXX); nothing else includes
/// <mpi.h>. MPI's default error handler is kept: a failed collective aborts the job, and when a
/// rank dies the launcher (mpirun) stops the others and names the rank that died.
#pragma once

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

#include "../core/error.hpp"
#include "communicator.hpp"

namespace onenip::distributed {

class MpiCommunicator final : public Communicator {
public:
  /// Initialises MPI (once per process) and finalises it when the last user is gone. FUNNELED:
  /// only the thread that made it calls MPI (the loader's worker threads never do).
  MpiCommunicator(int* argc = nullptr, char*** argv = nullptr) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
      owns_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_ && !finalised) MPI_Finalize();
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  /// Was this process started by an MPI launcher? (Open MPI, MPICH / Hydra, Slurm's PMI.)
  static bool launched() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
      if (std::getenv(v)) return true;
    return false;
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }
  void all_reduce_sum(float* data, size_t count) override { reduce(data, count, MPI_FLOAT); }
  void all_reduce_sum(double* data, size_t count) override { reduce(data, count, MPI_DOUBLE); }
  void broadcast(void* data, size_t bytes, int root) override {
    for (size_t at = 0; at < bytes;) {  // MPI counts are int: large buffers go in pieces
      const int n = int(std::min<size_t>(bytes - at, INT_MAX));
      MPI_Bcast(static_cast<char*>(data) + at, n, MPI_BYTE, root, MPI_COMM_WORLD);
      at += size_t(n);
    }
  }
  void barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

private:
  template <typename V>
  void reduce(V* data, size_t count, MPI_Datatype type) {
    for (size_t at = 0; at < count;) {
      const int n = int(std::min<size_t>(count - at, INT_MAX));
      MPI_Allreduce(MPI_IN_PLACE, data + at, n, type, MPI_SUM, MPI_COMM_WORLD);
      at += size_t(n);
    }
  }

  int rank_ = 0, size_ = 1;
  bool owns_ = false;
};

}  // namespace onenip::distributed

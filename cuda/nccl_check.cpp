// The NCCL communicator on real GPUs (bench/gpu_check.sh): all-reduce and broadcast of device
// buffers give the exact sums (small integers, exact in float), at sizes from one float to the
// default model's 8.4 M gradients, with the time of each all-reduce. One rank needs no MPI;
// under mpirun (built with ONENIP_MPI) every rank takes its own GPU.
#include <cuda_runtime.h>

#include <onenip/distributed/nccl.hpp>

#include <chrono>
#include <cstdio>
#include <vector>

#ifdef ONENIP_WITH_MPI
#include <onenip/distributed/mpi.hpp>
#endif

using namespace onenip::distributed;

int main(int argc, char** argv) {
  std::unique_ptr<Communicator> bootstrap = std::make_unique<SingleProcess>();
#ifdef ONENIP_WITH_MPI
  if (MpiCommunicator::launched()) bootstrap = std::make_unique<MpiCommunicator>(&argc, &argv);
#endif
  (void)argc, (void)argv;
  int failures = 0;
  try {
    NcclCommunicator nccl(*bootstrap);
    const int r = nccl.rank(), n = nccl.size();
    for (size_t count : {size_t(1), size_t(1000), size_t(1) << 20, size_t(8'400'000)}) {
      std::vector<float> host(count);
      for (size_t i = 0; i < count; ++i) host[i] = float((i % 7) + r);  // sum over ranks: n (i % 7) + n (n - 1) / 2
      float* device = nullptr;
      cudaMalloc(&device, count * sizeof(float));
      cudaMemcpy(device, host.data(), count * sizeof(float), cudaMemcpyHostToDevice);
      nccl.barrier();
      auto t0 = std::chrono::steady_clock::now();
      nccl.all_reduce_sum(device, count);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      cudaMemcpy(host.data(), device, count * sizeof(float), cudaMemcpyDeviceToHost);
      size_t wrong = 0;
      for (size_t i = 0; i < count; ++i) wrong += host[i] != float(n * int(i % 7) + n * (n - 1) / 2);
      // broadcast: every rank gets rank 0's bytes
      const float mine = float(100 + r);
      cudaMemcpy(device, &mine, sizeof(float), cudaMemcpyHostToDevice);
      nccl.broadcast(device, sizeof(float), 0);
      float got = 0;
      cudaMemcpy(&got, device, sizeof(float), cudaMemcpyDeviceToHost);
      wrong += got != 100.0f;
      cudaFree(device);
      failures += wrong != 0;
      std::printf("nccl_check: rank %d of %d, GPU %d, %zu floats: all-reduce %.3f ms, %s\n", r, n, nccl.gpu(), count, ms,
                  wrong ? "WRONG" : "exact");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nccl_check: %s\n", e.what());
    return 1;
  }
  return failures == 0 ? 0 : 1;
}

// NcclCommunicator (include/onenip/distributed/nccl.hpp): NCCL collectives on one stream of
// this rank's GPU, each waited for before returning.
#include <cuda_runtime.h>
#include <nccl.h>

#include <onenip/core/error.hpp>
#include <onenip/distributed/nccl.hpp>

namespace onenip::distributed {

namespace {
void check_cuda(cudaError_t e, const char* call) {
  ONENIP_CHECK(e == cudaSuccess, "NCCL communicator: ", call, ": ", cudaGetErrorString(e));
}
void check_nccl(ncclResult_t r, const char* call) {
  ONENIP_CHECK(r == ncclSuccess, "NCCL communicator: ", call, ": ", ncclGetErrorString(r));
}
}  // namespace

struct NcclCommunicator::State {
  int rank = 0, size = 1, device = 0;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;

  void all_reduce(void* data, size_t count, ncclDataType_t type) {
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_nccl(ncclAllReduce(data, data, count, type, ncclSum, comm, stream), "ncclAllReduce");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  }
};

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int device) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.rank = bootstrap.rank(), s.size = bootstrap.size();
  int devices = 0;
  check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
  ONENIP_CHECK(devices > 0, "NCCL communicator: no CUDA device");
  s.device = device >= 0 ? device : s.rank % devices;
  check_cuda(cudaSetDevice(s.device), "cudaSetDevice");
  ncclUniqueId id;
  if (s.rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  bootstrap.broadcast(&id, sizeof(id), 0);
  check_nccl(ncclCommInitRank(&s.comm, s.size, id, s.rank), "ncclCommInitRank");
  check_cuda(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking), "cudaStreamCreate");
}

NcclCommunicator::~NcclCommunicator() {
  if (state_->comm) ncclCommDestroy(state_->comm);
  if (state_->stream) cudaStreamDestroy(state_->stream);
}

int NcclCommunicator::rank() const { return state_->rank; }
int NcclCommunicator::size() const { return state_->size; }
int NcclCommunicator::gpu() const { return state_->device; }
void NcclCommunicator::all_reduce_sum(float* data, size_t count) { state_->all_reduce(data, count, ncclFloat); }
void NcclCommunicator::all_reduce_sum(double* data, size_t count) { state_->all_reduce(data, count, ncclDouble); }

void NcclCommunicator::broadcast(void* data, size_t bytes, int root) {
  check_cuda(cudaSetDevice(state_->device), "cudaSetDevice");
  check_nccl(ncclBroadcast(data, data, bytes, ncclUint8, root, state_->comm, state_->stream), "ncclBroadcast");
  check_cuda(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

// An all-reduce of one float: returns once every rank has reached it.
void NcclCommunicator::barrier() {
  float* one = nullptr;
  check_cuda(cudaMalloc(&one, sizeof(float)), "cudaMalloc");
  state_->all_reduce(one, 1, ncclFloat);
  check_cuda(cudaFree(one), "cudaFree");
}

}  // namespace onenip::distributed

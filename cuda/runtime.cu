// The CUDA backend's runtime (see runtime.cuh).
#include "runtime.cuh"

#include "onenip/kernels/memory.hpp"

namespace onenip::cuda {

namespace {

// Device memory straight from the driver (or the emulator's region); counted.
class RawDeviceAllocator final : public Allocator {
public:
  void* allocate(size_t bytes) override {
    ++count;
#if ONENIP_SIMT_EMULATED
    return simt::device_malloc(bytes);
#else
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
      cudaGetLastError();  // clear it: the caller may free its cache and retry
      detail::fail("out of CUDA memory allocating ", bytes, " bytes (", cudaGetErrorString(e), ")");
    }
    return p;
#endif
  }
  void deallocate(void* p, size_t) noexcept override {
#if ONENIP_SIMT_EMULATED
    simt::device_free(p);
#else
    cudaFree(p);
#endif
  }
  Device device() const override { return Device::CUDA; }
  uint64_t count = 0;
};

// Never destroyed: tensors with static storage duration may outlive any destruction order.
RawDeviceAllocator& raw() {
  static auto* a = new RawDeviceAllocator;
  return *a;
}

}  // namespace

CachingAllocator& caching_allocator() {
  static auto* c = new CachingAllocator(raw());
  return *c;
}
uint64_t raw_allocations() { return raw().count; }

Allocator* device_allocator() {
#if !ONENIP_SIMT_EMULATED
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    cudaGetLastError();
    return nullptr;  // no GPU: "cuda" is not an available device
  }
#endif
  return &caching_allocator();
}

#if !ONENIP_SIMT_EMULATED
void check(cudaError_t e, const char* call, const simt::LaunchConfig* launch) {
  if (e == cudaSuccess) return;
  cudaGetLastError();
  std::string where;
  if (launch) {
    where = std::string(" (kernel '") + launch->name + "'" + (launch->problem.empty() ? "" : ", " + launch->problem) +
            ", grid " + std::to_string(launch->grid.x) + "x" + std::to_string(launch->grid.y) + "x" +
            std::to_string(launch->grid.z) + ", block " + std::to_string(launch->block.x) + "x" +
            std::to_string(launch->block.y) + "x" + std::to_string(launch->block.z) + ", " +
            std::to_string(launch->dynamic_shared) + " bytes of dynamic shared memory)";
  }
  detail::fail("CUDA error in ", call, where, ": ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return created;
  }();
  return s;
}
#endif

void synchronize() {
#if !ONENIP_SIMT_EMULATED
  check(cudaStreamSynchronize(stream()), "cudaStreamSynchronize (an earlier kernel or copy failed)");
#endif
}

void copy(void* dst, const void* src, size_t bytes, Device from, Device to) {
  if (bytes == 0) return;
#if ONENIP_SIMT_EMULATED
  (void)from, (void)to;
  simt::device_memcpy(dst, src, bytes);
#else
  cudaMemcpyKind kind = from == Device::CPU ? cudaMemcpyHostToDevice
                        : to == Device::CPU ? cudaMemcpyDeviceToHost
                                            : cudaMemcpyDeviceToDevice;
  check(cudaMemcpyAsync(dst, src, bytes, kind, stream()), "cudaMemcpyAsync");
  // The host buffer may be freed or read as soon as we return.
  if (kind != cudaMemcpyDeviceToDevice) synchronize();
#endif
}

}  // namespace onenip::cuda

namespace onenip::kernels {
void CudaKernels::transfer(const TransferProblem& p) { cuda::copy(p.dst, p.src, p.bytes, p.from, p.to); }
}  // namespace onenip::kernels

// The CUDA backend's runtime: device memory (a caching allocator over cudaMalloc, registered as
// the allocator of Device::CUDA), the one compute stream, transfers, checked launches.
//
// The same source builds two libraries (cuda/CMakeLists.txt): onenip_cuda with nvcc for the
// GPU, and onenip_cuda_emulated with the host compiler, where "device memory" is the SIMT
// emulator's region and kernels run under simt/emulator.hpp. Kernel sources include this
// header and never the CUDA runtime directly.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "onenip/core/caching_allocator.hpp"
#include "onenip/core/device.hpp"
#include "onenip/core/error.hpp"
#include "simt/portable.cuh"

namespace onenip::cuda {

#if !ONENIP_SIMT_EMULATED
// The compute stream of the current device: every kernel and copy is ordered on it.
cudaStream_t stream();
// Throws onenip::Error naming the call, the kernel or op and its sizes when e is an error.
void check(cudaError_t e, const char* call, const simt::LaunchConfig* launch = nullptr);
#endif

// Waits for the device to finish all queued work (errors from it are thrown here).
void synchronize();
// bytes between host and device or device and device (`from`/`to` name the sides).
void copy(void* dst, const void* src, size_t bytes, Device from, Device to);

// The allocator tensors on Device::CUDA draw from, and its raw allocations (cudaMalloc calls,
// or the emulator's): flat in the steady state of a training loop.
CachingAllocator& caching_allocator();
uint64_t raw_allocations();
// What core/device.hpp registers for Device::CUDA on first use: the caching allocator, or null
// when no GPU is present. Never destroyed, so tensors with static storage may outlive main.
Allocator* device_allocator();

// Fill a __constant__ variable from host memory (cudaMemcpyToSymbol, ordered on the stream).
template <typename Symbol>
void copy_to_constant(Symbol& symbol, const void* src, size_t bytes) {
#if ONENIP_SIMT_EMULATED
  std::memcpy(&symbol, src, bytes);  // __constant__ is an ordinary global under the emulator
#else
  check(cudaMemcpyToSymbolAsync(symbol, src, bytes, 0, cudaMemcpyHostToDevice, stream()), "cudaMemcpyToSymbolAsync");
#endif
}

}  // namespace onenip::cuda

namespace onenip::simt {

// kernel<<<cfg.grid, cfg.block, cfg.dynamic_shared, stream>>>(args...), checked; nothing when the
// grid is empty.
template <typename... P, typename... A>
void launch(const LaunchConfig& cfg, void (*kernel)(P...), A&&... args) {
  if (cfg.grid.x == 0 || cfg.grid.y == 0 || cfg.grid.z == 0) return;
#if ONENIP_SIMT_EMULATED
  std::tuple<std::decay_t<P>...> bound(std::forward<A>(args)...);  // converted as the kernel's parameters
  run_grid(cfg, [&] { std::apply(kernel, bound); });
#else
  if (cfg.dynamic_shared > 48 * 1024)
    cuda::check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(cfg.dynamic_shared)),
                "cudaFuncSetAttribute", &cfg);
  kernel<<<cfg.grid, cfg.block, cfg.dynamic_shared, cuda::stream()>>>(std::forward<A>(args)...);
  cuda::check(cudaGetLastError(), "kernel launch", &cfg);
#endif
}

}  // namespace onenip::simt

/// \file
/// Devices and the memory behind tensors.
///
/// A tensor's storage comes from the Allocator registered for its device. The CPU's is always
/// there: a cache (core/caching_allocator.hpp) over aligned_alloc, so that a training step, which
/// allocates the same sizes every time, stops taking fresh pages from the system after its first
/// step. A backend that owns a device (the CUDA companion library) registers its own at start-up.
/// Nothing else in the library knows how memory is obtained.
#pragma once

#include <array>
#include <vector>

#include "allocator.hpp"
#include "caching_allocator.hpp"

namespace onenip {

#if defined(ONENIP_WITH_CUDA)
// Defined by the linked CUDA backend (cuda/runtime.cu): its caching device allocator.
namespace cuda {
Allocator* device_allocator();
}
#endif

namespace detail {
inline std::array<Allocator*, kDeviceCount>& allocator_table() {
  // never destroyed: tensors in static objects may free their memory after main returns
  static CachingAllocator* cpu = new CachingAllocator(*new CpuAllocator, CachingAllocator::kCapToPeak);
#if defined(ONENIP_WITH_CUDA)
  static std::array<Allocator*, kDeviceCount> table{cpu, cuda::device_allocator()};
#else
  static std::array<Allocator*, kDeviceCount> table{cpu, nullptr};
#endif
  return table;
}
}  // namespace detail

/// The allocator tensors on `d` get their memory from.
inline Allocator& allocator_for(Device d) {
  Allocator* a = detail::allocator_table()[size_t(d)];
  ONENIP_CHECK(a != nullptr, "no memory for device '", device_name(d), "': this program has no ", device_name(d),
               " backend (configure with -DONENIP_CUDA=ON and link onenip::cuda), or found no such device");
  return *a;
}

/// Install the allocator for a device (a backend at start-up, or a caching allocator). Storage
/// already allocated keeps the allocator it came from; `a` must outlive every tensor it serves.
inline void set_allocator(Device d, Allocator* a) {
  ONENIP_CHECK(a == nullptr || a->device() == d, "set_allocator: an allocator for '", device_name(a->device()),
               "' cannot serve '", device_name(d), "'");
  ONENIP_CHECK(d != Device::CPU || a != nullptr, "set_allocator: the cpu always needs an allocator");
  detail::allocator_table()[size_t(d)] = a;
}

/// Give the memory cached by a device's allocator back to the system (or the driver) and start
/// its peak again from what is in use now; returns the bytes released. Tensors alive keep their
/// memory. 0 when the device's allocator does not cache (one installed with set_allocator).
inline size_t release_cached_memory(Device d = Device::CPU) {
  auto* cache = dynamic_cast<CachingAllocator*>(&allocator_for(d));
  if (!cache) return 0;
  const size_t released = cache->release_cached();
  cache->reset_peak();
  return released;
}

/// Devices this program can put tensors on: the CPU, and every device whose backend registered.
inline std::vector<Device> available_devices() {
  std::vector<Device> out;
  for (size_t i = 0; i < kDeviceCount; ++i)
    if (detail::allocator_table()[i]) out.push_back(Device(i));
  return out;
}

}  // namespace onenip

// Devices and the memory behind tensors.
//
// A tensor's storage comes from the Allocator registered for its device. The CPU allocator is
// always there; a backend that owns a device (the CUDA companion library) registers its own at
// start-up, and a caching allocator can replace the CPU one. Nothing else in the library knows
// how memory is obtained.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "error.hpp"

namespace onenip {

// Where a tensor's elements live. Kernels for a device are chosen by the dispatch layer
// (kernels/dispatch.hpp); the CPU ones are always compiled in.
enum class Device : uint8_t { CPU, CUDA };
inline constexpr size_t kDeviceCount = 2;
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// Raw memory for one device. allocate() returns 64-byte aligned memory or throws onenip::Error
// naming the size; deallocate() gets back the pointer and the size it was given.
class Allocator {
public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) noexcept = 0;
  virtual Device device() const = 0;
};

// Host memory from aligned_alloc (64 bytes: SIMD loads and Eigen maps are aligned).
class CpuAllocator final : public Allocator {
public:
  void* allocate(size_t bytes) override {
    size_t rounded = ((bytes > 0 ? bytes : 1) + 63) / 64 * 64;  // aligned_alloc needs a multiple
    void* p = std::aligned_alloc(64, rounded);
    ONENIP_CHECK(p != nullptr, "out of memory allocating ", bytes, " bytes on the cpu");
    return p;
  }
  void deallocate(void* p, size_t) noexcept override { std::free(p); }
  Device device() const override { return Device::CPU; }
};

#if defined(ONENIP_WITH_CUDA)
// Defined by the linked CUDA backend (cuda/runtime.cu): its caching device allocator.
namespace cuda {
Allocator* device_allocator();
}
#endif

namespace detail {
inline std::array<Allocator*, kDeviceCount>& allocator_table() {
  static CpuAllocator cpu;
#if defined(ONENIP_WITH_CUDA)
  static std::array<Allocator*, kDeviceCount> table{&cpu, cuda::device_allocator()};
#else
  static std::array<Allocator*, kDeviceCount> table{&cpu, nullptr};
#endif
  return table;
}
}  // namespace detail

// The allocator tensors on `d` get their memory from.
inline Allocator& allocator_for(Device d) {
  Allocator* a = detail::allocator_table()[size_t(d)];
  ONENIP_CHECK(a != nullptr, "no memory for device '", device_name(d), "': this program has no ", device_name(d),
               " backend (configure with -DONENIP_CUDA=ON and link onenip::cuda), or found no such device");
  return *a;
}

// Install the allocator for a device (a backend at start-up, or a caching allocator). Storage
// already allocated keeps the allocator it came from; `a` must outlive every tensor it serves.
inline void set_allocator(Device d, Allocator* a) {
  ONENIP_CHECK(a == nullptr || a->device() == d, "set_allocator: an allocator for '", device_name(a->device()),
               "' cannot serve '", device_name(d), "'");
  ONENIP_CHECK(d != Device::CPU || a != nullptr, "set_allocator: the cpu always needs an allocator");
  detail::allocator_table()[size_t(d)] = a;
}

// Devices this program can put tensors on: the CPU, and every device whose backend registered.
inline std::vector<Device> available_devices() {
  std::vector<Device> out;
  for (size_t i = 0; i < kDeviceCount; ++i)
    if (detail::allocator_table()[i]) out.push_back(Device(i));
  return out;
}

}  // namespace onenip

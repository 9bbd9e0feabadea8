/// \file
/// Devices, and the interface to the memory behind tensors (core/device.hpp says which
/// allocator serves which device).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "error.hpp"

namespace onenip {

/// Where a tensor's elements live. Kernels for a device are chosen by the dispatch layer
/// (kernels/dispatch.hpp); the CPU ones are always compiled in.
enum class Device : uint8_t { CPU, CUDA };
inline constexpr size_t kDeviceCount = 2;
inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

/// Raw memory for one device. allocate() returns 64-byte aligned memory or throws onenip::Error
/// naming the size; deallocate() gets back the pointer and the size it was given.
class Allocator {
public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) noexcept = 0;
  virtual Device device() const = 0;
};

/// Host memory from aligned_alloc (64 bytes: SIMD loads and Eigen maps are aligned).
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

}  // namespace onenip

/// \file
/// A caching allocator: keeps freed blocks, by size class, for the next request of that class.
///
/// A training step allocates the same sizes every time, so after the first step every request is
/// served from the cache: no cudaMalloc (which synchronises the device) and no page faults. Size
/// classes are the multiples of 512 bytes up to 4 KiB, then four per power of two (at most 25 %
/// waste). When the upstream allocator fails, the cache is given back and the request retried.
///
/// A device's allocator fails cleanly when it runs out, so its cache may grow without bound. The
/// host's does not (the system kills the process instead), so the CPU's cache is capped to the
/// peak of bytes in use: a program then holds at most twice its peak, and a steady loop (the
/// same sizes every step) is served from the cache alone.
///
/// Under AddressSanitizer, host blocks in the cache are poisoned, so a use after free of a
/// tensor's memory is still reported although the memory was never given back to malloc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "allocator.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define ONENIP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ONENIP_ASAN 1
#endif
#endif
#ifdef ONENIP_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace onenip {

class CachingAllocator final : public Allocator {
public:
  enum Limit { kUnlimited, kCapToPeak };  ///< how many freed bytes the cache may keep
  explicit CachingAllocator(Allocator& upstream, Limit limit = kUnlimited) : upstream_(upstream), limit_(limit) {}
  ~CachingAllocator() override { release_cached(); }

  static size_t size_class(size_t bytes) {
    if (bytes <= 4096) return (bytes + 511) / 512 * 512 + (bytes == 0 ? 512 : 0);
    int top = 63 - __builtin_clzll(uint64_t(bytes - 1));  // 2^top < bytes <= 2^(top+1)
    size_t step = size_t(1) << (top - 2);
    return (bytes + step - 1) / step * step;
  }

  void* allocate(size_t bytes) override {
    const size_t size = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    auto& list = free_[size];
    void* p;
    if (!list.empty()) {
      p = list.back();
      list.pop_back();
      cached_ -= size;
      poison(p, size, false);
    } else {
      try {
        p = upstream_.allocate(size);
      } catch (const Error&) {  // give the cache back and try once more; a second failure propagates
        release_locked();
        p = upstream_.allocate(size);
      }
      ++upstream_allocations_;
    }
    in_use_ += size;  // counted only once the memory is really handed out
    peak_in_use_ = std::max(peak_in_use_, in_use_);
    return p;
  }

  void deallocate(void* p, size_t bytes) noexcept override {
    if (!p) return;
    const size_t size = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_ -= size;
    if (limit_ == kCapToPeak && cached_ + size > peak_in_use_) {
      upstream_.deallocate(p, size);
      return;
    }
    free_[size].push_back(p);
    cached_ += size;
    poison(p, size, true);
  }

  Device device() const override { return upstream_.device(); }

  /// Give every cached block back upstream; returns how many bytes that was.
  size_t release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t released = cached_;
    release_locked();
    return released;
  }

  /// Start the peak (and so the CPU cache's cap) again from the bytes in use now: after one
  /// large batch, later small ones then keep only what they need.
  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_in_use_ = in_use_;
  }

  // The counters, read under the lock: other threads may be allocating.
  size_t bytes_in_use() const { return locked(in_use_); }
  size_t bytes_cached() const { return locked(cached_); }
  size_t peak_bytes_in_use() const { return locked(peak_in_use_); }
  uint64_t upstream_allocations() const { return locked(upstream_allocations_); }

private:
  template <class Counter>
  Counter locked(const Counter& counter) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counter;
  }

  void release_locked() {
    for (auto& [size, list] : free_)
      for (void* p : list) {
        poison(p, size, false);
        upstream_.deallocate(p, size);
      }
    free_.clear();
    cached_ = 0;
  }

  /// Mark a cached host block unusable (or usable again) for AddressSanitizer; a no-op otherwise,
  /// and for device memory, which the host never touches.
  void poison([[maybe_unused]] void* p, [[maybe_unused]] size_t size, [[maybe_unused]] bool unusable) const {
#ifdef ONENIP_ASAN
    if (upstream_.device() != Device::CPU) return;
    if (unusable) ASAN_POISON_MEMORY_REGION(p, size);
    else ASAN_UNPOISON_MEMORY_REGION(p, size);
#endif
  }

  Allocator& upstream_;
  mutable std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  const Limit limit_;
  size_t in_use_ = 0, cached_ = 0, peak_in_use_ = 0;
  uint64_t upstream_allocations_ = 0;
};

}  // namespace onenip

// A caching allocator: keeps freed blocks, by size class, for the next request of that class.
//
// A training step allocates the same sizes every time, so after the first step every request is
// served from the cache: no cudaMalloc (which synchronises the device) and no page faults. Size
// classes are the multiples of 512 bytes up to 4 KiB, then four per power of two (at most 25 %
// waste). When the upstream allocator fails, the cache is given back and the request retried.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "device.hpp"

namespace onenip {

class CachingAllocator final : public Allocator {
public:
  explicit CachingAllocator(Allocator& upstream) : upstream_(upstream) {}
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
    return p;
  }

  void deallocate(void* p, size_t bytes) noexcept override {
    if (!p) return;
    const size_t size = size_class(bytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_[size].push_back(p);
    in_use_ -= size;
    cached_ += size;
  }

  Device device() const override { return upstream_.device(); }

  // Give every cached block back upstream.
  void release_cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

  size_t bytes_in_use() const { return in_use_; }
  size_t bytes_cached() const { return cached_; }
  uint64_t upstream_allocations() const { return upstream_allocations_; }

private:
  void release_locked() {
    for (auto& [size, list] : free_)
      for (void* p : list) upstream_.deallocate(p, size);
    free_.clear();
    cached_ = 0;
  }

  Allocator& upstream_;
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t in_use_ = 0, cached_ = 0;
  uint64_t upstream_allocations_ = 0;
};

}  // namespace onenip

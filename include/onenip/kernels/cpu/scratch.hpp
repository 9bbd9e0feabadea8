// Scratch memory of the CPU kernels.
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <vector>

#include "../../core/device.hpp"

namespace onenip::kernels::cpu {

// A buffer with a fixed 64-byte alignment, as tensors have: Eigen's vectorised reductions start
// at the first aligned element, so the alignment must not vary between threads or calls for
// results to be reproducible.
template <typename T> using Scratch = std::vector<T, Eigen::aligned_allocator<T>>;

// A large buffer of a call (megabytes: a key group's dq, a head's packed operands), from the
// allocator tensors use (core/device.hpp). Its cache hands the same blocks back call after call,
// where a fresh vector would take new pages from the system and zero them every time (at T = 4096
// that was 5 % of the attention backward). The contents start undefined (64-byte aligned); the
// memory goes back to the allocator it came from.
template <typename T>
class PooledScratch {
 public:
  explicit PooledScratch(size_t n = 0) : n_(n), from_(allocator_for(Device::CPU)) {
    if (n_) p_ = static_cast<T*>(from_.allocate(n_ * sizeof(T)));
  }
  ~PooledScratch() {
    if (n_) from_.deallocate(p_, n_ * sizeof(T));
  }
  PooledScratch(const PooledScratch&) = delete;
  PooledScratch& operator=(const PooledScratch&) = delete;
  T* data() { return p_; }
  const T* data() const { return p_; }
  size_t size() const { return n_; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }

 private:
  size_t n_;
  Allocator& from_;
  T* p_ = nullptr;
};

}  // namespace onenip::kernels::cpu

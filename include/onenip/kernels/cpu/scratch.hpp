// Scratch memory of the CPU kernels.
#pragma once

#include <Eigen/Core>
#include <vector>

namespace onenip::kernels::cpu {

// A buffer with a fixed 64-byte alignment, as tensors have: Eigen's vectorised reductions start
// at the first aligned element, so the alignment must not vary between threads or calls for
// results to be reproducible.
template <typename T> using Scratch = std::vector<T, Eigen::aligned_allocator<T>>;

}  // namespace onenip::kernels::cpu

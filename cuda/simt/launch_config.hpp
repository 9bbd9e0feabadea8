// How a kernel is launched; the same struct under nvcc and the emulator (dim3 comes from CUDA's
// headers or from emulator.hpp, whichever included this).
#pragma once

#include <cstddef>
#include <string>

namespace onenip::simt {

struct LaunchConfig {
  const char* name = "kernel";  // the kernel, for messages
  std::string problem;          // its sizes, for messages ("rows 64, cols 196")
  dim3 grid, block;
  size_t dynamic_shared = 0;
  size_t max_dynamic_shared = 48 * 1024;  // raise (up to 227 KB) for a kernel that opts in
  bool deterministic = true;  // false when float atomics make the result order-dependent
};

}  // namespace onenip::simt

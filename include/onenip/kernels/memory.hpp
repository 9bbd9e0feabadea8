// Moving bytes between devices: the one kernel that sees two devices at once.
#pragma once

#include <cstring>

#include "dispatch.hpp"

namespace onenip::kernels {

// Copy `bytes` from `src` on `from` to `dst` on `to` (both contiguous, not overlapping).
struct TransferProblem {
  Device from = Device::CPU, to = Device::CPU;
  const void* src = nullptr;
  void* dst = nullptr;
  size_t bytes = 0;
};

namespace cpu {
inline void transfer(const TransferProblem& p) {
  if (p.bytes) std::memcpy(p.dst, p.src, p.bytes);
}
}  // namespace cpu

// Host to host is a memcpy; a transfer that involves another device is that device's backend's.
inline void transfer(const TransferProblem& p) {
  const Device other = p.from != Device::CPU ? p.from : p.to;
  ONENIP_DISPATCH(other, transfer, p);
}

}  // namespace onenip::kernels

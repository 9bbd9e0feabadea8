// The dispatch seam between ops and kernels.
//
// An op (ops/*.hpp) checks its arguments, allocates its outputs on the inputs' device, fills in
// a problem struct (sizes, strides, raw device pointers) and calls kernels::<name>(problem). The
// entry point in kernels/<family>.hpp sends the call to the implementation for the problem's
// device: kernels::cpu::<name> (kernels/cpu/<family>.hpp, always compiled in) or the CUDA
// backend's kernels::cuda::<name> (cuda/<family>.cu, a compiled companion library). Ops, modules,
// models and the pipeline never branch on a device themselves. The contract every kernel keeps is
// written down in docs/design.md.
#pragma once

#include <initializer_list>
#include <tuple>
#include <type_traits>

#include "../tensor.hpp"

namespace onenip::kernels {

// Scalar types the CPU kernels are compiled for. The CUDA kernels take the same ones (double runs
// under the SIMT emulator, for gradient checks); reduced-precision math is a per-problem option.
template <typename T>
concept KernelScalar = std::is_same_v<T, float> || std::is_same_v<T, double>;

// The error for a device that has no implementation of `kernel` in this build: its backend is
// not linked, or does not have that kernel yet. A distinct type, so the op-test harness can tell
// "not implemented there" from "wrong".
class NoKernelError : public Error {
public:
  using Error::Error;
};
[[noreturn]] inline void no_kernel(const char* kernel, Device d) {
  std::ostringstream os;
  os << "kernel '" << kernel << "' has no implementation for device '" << device_name(d) << "' in this build ";
  bool linked = false;
  for (Device a : available_devices()) linked |= a == d;
  if (linked)
    os << "(the " << device_name(d) << " backend does not have it yet: move the tensors with .cpu())";
  else
    os << "(the " << device_name(d) << " backend is not linked)";
  throw NoKernelError(os.str());
}

// The one device every tensor of an op lives on; the error names the op and the devices.
// Undefined tensors (optional arguments) are skipped.
template <typename T>
Device common_device(const char* op, std::initializer_list<const Tensor<T>*> tensors) {
  const Tensor<T>* first = nullptr;
  for (const Tensor<T>* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    ONENIP_CHECK(t->device() == first->device(), op, ": expected all tensors on one device, got ",
                 device_name(first->device()), " (shape ", shape_str(first->shape()), ") and ", device_name(t->device()),
                 " (shape ", shape_str(t->shape()), "); move them with .to(device)");
  }
  return first ? first->device() : Device::CPU;
}

}  // namespace onenip::kernels

#if defined(ONENIP_WITH_CUDA)
#include "cuda.hpp"
#else
#define ONENIP_CUDA_CASE(device, name, ...)
#endif

// Call the implementation of kernel `name` for `device` with the given arguments: cpu::name on
// the CPU, CudaKernels::name (kernels/cuda.hpp) on a CUDA device when a CUDA backend is linked;
// otherwise a clear error.
#define ONENIP_DISPATCH(device, name, ...)                                          \
  switch (device) {                                                                 \
    case ::onenip::Device::CPU: return ::onenip::kernels::cpu::name(__VA_ARGS__);   \
    ONENIP_CUDA_CASE(device, name, __VA_ARGS__)                                     \
    default: ::onenip::kernels::no_kernel(#name, device);                           \
  }

// The entry point of a kernel that takes one problem struct: declares
//   template <KernelScalar T> void name(const Problem<T>& p)
// sending the call to `name`'s implementation for p.device.
#define ONENIP_KERNEL(name, Problem)                    \
  template <::onenip::kernels::KernelScalar T>          \
  void name(const Problem<T>& p) {                      \
    ONENIP_DISPATCH(p.device, name, p);                 \
  }

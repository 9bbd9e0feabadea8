// The SIMT emulator: CUDA kernels compiled as host C++ and run on the CPU.
//
// Running the blocks of a grid one at a time, and the threads of a block as cooperative fibers
// that meet at barriers, is one legal CUDA execution. The kernel sources under cuda/ are compiled
// twice: by nvcc for the GPU, and by the host compiler against this header (through
// simt/portable.cuh), so CI runs the very kernels the GPU runs, on machines without one.
//
// What it checks that a plain CPU port would not:
//   - thread order: between two meeting points the threads of a block run in a chosen order
//     (forward, reverse, or a seeded shuffle), and blocks run forward or reversed, so a kernel
//     whose result depends on the order (a race, an unsynchronised read) gives different bits
//     under different schedules;
//   - barriers and warp collectives are meeting points: a __syncthreads() that some threads never
//     reach, or a shuffle whose mask names a lane that never arrives, is reported with the kernel,
//     the file and the line instead of hanging;
//   - shared memory is poisoned (all bytes 0xFF: NaN for floats) at each block start and held to
//     the device's limits; device memory cannot be touched by the host outside a launch.
//
// Threads are fibers on one OS thread: `threadIdx` and friends are plain globals that the
// scheduler sets at every switch (a thread_local would be shared by all fibers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

// ---- CUDA's vector index types and built-in variables ----
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};

inline uint3 threadIdx, blockIdx;  // set by the scheduler before a fiber runs
inline dim3 blockDim, gridDim;
inline constexpr int warpSize = 32;

#include "launch_config.hpp"

namespace onenip::simt {

// How the threads of a block, and the blocks of a grid, are ordered.
enum class Order : uint8_t { Forward, Reverse, Random };
struct Schedule {
  Order threads = Order::Forward;
  bool reverse_blocks = false;
  uint64_t seed = 0;  // for Order::Random
};
const char* order_name(Order o);
// The schedule of every later launch (the op-test harness runs each op under several).
void set_schedule(const Schedule& s);
Schedule schedule();

// Device limits the emulator holds kernels to (those of sm_80 and sm_90).
inline constexpr size_t kMaxThreadsPerBlock = 1024;
inline constexpr size_t kMaxStaticShared = 48 * 1024;
inline constexpr size_t kMaxDynamicShared = 227 * 1024;  // with the opt-in attribute
inline constexpr size_t kDefaultDynamicShared = 48 * 1024;

// Counters for tests: launches so far, and whether one declared itself non-deterministic since
// the last reset.
struct LaunchStats {
  uint64_t launches = 0;
  bool nondeterministic = false;
};
LaunchStats& launch_stats();

// Runs `body` (the kernel call) once per thread of the grid. Throws onenip::Error with the
// kernel's name on a deadlock, a bad configuration or a failed check inside the kernel.
void run_grid(const LaunchConfig& cfg, const std::function<void()>& body);

// ---- emulated device memory: one reserved region, inaccessible outside launches ----
void* device_malloc(size_t bytes);
void device_free(void* p) noexcept;
bool is_device_pointer(const void* p);
// Host <-> device copies and fills (the region is opened for the copy).
void device_memcpy(void* dst, const void* src, size_t bytes);
void device_memset(void* dst, int value, size_t bytes);
// Raw allocations so far: a caching allocator above keeps this flat in the steady state.
uint64_t device_malloc_count();

// ---- what kernel code calls (through the macros of simt/portable.cuh) ----
namespace emu {
[[noreturn]] void kernel_fail(const char* file, int line, const std::string& what);
void sync_threads(const char* file, int line);
void sync_warp(unsigned mask, const char* file, int line);
// Warp exchange: every lane of `mask` offers `value` and reads the value of lane src_lane(this
// lane); kind names the intrinsic for messages.
uint64_t warp_exchange(const char* kind, unsigned mask, uint64_t value, int src_lane, const char* file, int line);
unsigned warp_vote(const char* kind, unsigned mask, bool pred, const char* file, int line);
unsigned lane_id();
void* static_shared(const void* site, size_t bytes, size_t align, const char* file, int line);
void* dynamic_shared();
void note_float_atomic();  // a float atomicAdd ran: the launch must not claim determinism

template <typename T>
T shfl(const char* kind, unsigned mask, T v, int src, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffle of a value over 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_exchange(kind, mask, bits, src, file, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}
// Source lane of each shuffle flavour, within segments of `width` lanes.
inline int src_idx(int lane, int src, int width) { return (lane & ~(width - 1)) + (src & (width - 1)); }
inline int src_xor(int lane, int m, int width) {
  int s = lane ^ m;
  return (s & ~(width - 1)) == (lane & ~(width - 1)) ? s : lane;
}
inline int src_down(int lane, int d, int width) { return (lane & (width - 1)) + d < width ? lane + d : lane; }
inline int src_up(int lane, int d, int width) { return (lane & (width - 1)) >= d ? lane - d : lane; }
}  // namespace emu

}  // namespace onenip::simt

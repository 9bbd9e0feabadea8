// The SIMT emulator and the CUDA runtime on it: barriers, warp collectives, shared memory,
// schedules, the errors it must report, device memory and device tensors. Kernels here are
// written as CUDA (simt/portable.cuh) and run by the emulator.
#include <doctest/doctest.h>
#include <onenip/onenip.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime.cuh"

using namespace onenip;

namespace {

// Device buffer of n T, filled from / read back to the host.
template <typename T>
struct DeviceBuffer {
  T* p = nullptr;
  size_t n = 0;
  explicit DeviceBuffer(size_t count, const std::vector<T>& init = {}) : n(count) {
    p = static_cast<T*>(cuda::caching_allocator().allocate(n * sizeof(T)));
    if (!init.empty()) cuda::copy(p, init.data(), n * sizeof(T), Device::CPU, Device::CUDA);
  }
  ~DeviceBuffer() { cuda::caching_allocator().deallocate(p, n * sizeof(T)); }
  std::vector<T> host() const {
    std::vector<T> h(n);
    cuda::copy(h.data(), p, n * sizeof(T), Device::CUDA, Device::CPU);
    return h;
  }
};

const simt::Schedule kSchedules[] = {
    {simt::Order::Forward, false, 0}, {simt::Order::Reverse, true, 0}, {simt::Order::Random, false, 7}};

struct ScheduleGuard {
  simt::Schedule saved = simt::schedule();
  ~ScheduleGuard() { simt::set_schedule(saved); }
};

// ---- kernels ----

// out[block] = sum of in[block * blockDim .. +blockDim): a shared-memory tree.
__global__ void block_sum(const float* in, float* out) {
  ONENIP_SHARED(float[256], partial);
  partial[threadIdx.x] = in[blockIdx.x * blockDim.x + threadIdx.x];
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

// out[warp] = sum over the warp with xor shuffles; votes of (value > 0).
__global__ void warp_ops(const float* in, float* sums, unsigned* ballots, int* any_all) {
  const unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = in[i];
  unsigned ballot = __ballot_sync(0xffffffffu, v > 0);
  bool any = __any_sync(0xffffffffu, v > 100), all = __all_sync(0xffffffffu, v > -100);
  for (int m = 16; m > 0; m /= 2) v += __shfl_xor_sync(0xffffffffu, v, m);
  float down = in[i];
  for (int d = 16; d > 0; d /= 2) down += __shfl_down_sync(0xffffffffu, down, d);
  if (threadIdx.x % 32 == 0) {
    sums[i / 32] = v;
    ballots[i / 32] = ballot;
    any_all[2 * (i / 32)] = any;
    any_all[2 * (i / 32) + 1] = all;
    if (down != v) sums[i / 32] = NAN;  // lane 0 of a down-reduction holds the same sum
  }
}

// Thread 0 leaves before the barrier the others wait at.
__global__ void early_exit(float* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

// A shuffle whose mask leaves out lane 1, called by every lane.
__global__ void bad_mask(float* out) {
  out[threadIdx.x] = __shfl_sync(0xfffffffdu, 1.0f, 0);
}

// Reads shared memory nobody wrote.
__global__ void read_unwritten(float* out) {
  ONENIP_SHARED(float[32], never_written);
  out[threadIdx.x] = never_written[threadIdx.x];
}

__global__ void too_much_shared(float* out) {
  ONENIP_SHARED(float[13000], big);  // 52 KB
  big[threadIdx.x] = 1;
  out[threadIdx.x] = big[threadIdx.x];
}

// A race: each thread reads its neighbour's slot, which the neighbour writes with no barrier
// between. The result depends on who ran first.
__global__ void racy_neighbour(float* out) {
  ONENIP_SHARED(float[64], slot);
  slot[threadIdx.x] = float(threadIdx.x);
  out[threadIdx.x] = slot[(threadIdx.x + 1) % blockDim.x];
}

__global__ void float_atomic_sum(const float* in, float* out) { atomicAdd(out, in[threadIdx.x]); }

__global__ void dynamic_scale(const float* in, float* out, float s) {
  ONENIP_DYNAMIC_SHARED(float, buf);
  buf[threadIdx.x] = in[threadIdx.x] * s;
  __syncthreads();
  out[threadIdx.x] = buf[blockDim.x - 1 - threadIdx.x];
}

__constant__ unsigned kMultipliers[4];

// __constant__ memory and __umulhi: out[i] = high 32 bits of x[i] * kMultipliers[i % 4].
__global__ void mulhi_constant(const unsigned* x, unsigned* out) {
  out[threadIdx.x] = __umulhi(x[threadIdx.x], kMultipliers[threadIdx.x % 4]);
}

simt::LaunchConfig config(const char* name, unsigned blocks, unsigned threads) {
  simt::LaunchConfig c;
  c.name = name;
  c.grid = dim3(blocks);
  c.block = dim3(threads);
  return c;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("simt: a shared-memory block reduction gives the same sums in every schedule") {
  ScheduleGuard guard;
  std::vector<float> in(4 * 256);
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(i % 97) * 0.5f;
  DeviceBuffer<float> din(in.size(), in), dout(4);
  for (const auto& s : kSchedules) {
    simt::set_schedule(s);
    simt::launch(config("block_sum", 4, 256), block_sum, din.p, dout.p);
    std::vector<float> out = dout.host();
    for (int b = 0; b < 4; ++b) {
      double want = 0;
      for (int k = 0; k < 256; ++k) want += in[size_t(b * 256 + k)];
      CHECK(out[size_t(b)] == doctest::Approx(want));
    }
  }
}

TEST_CASE("simt: warp shuffles and votes") {
  ScheduleGuard guard;
  std::vector<float> in(128);
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(int(i) % 5 - 2);
  DeviceBuffer<float> din(in.size(), in), sums(4);
  DeviceBuffer<unsigned> ballots(4);
  DeviceBuffer<int> any_all(8);
  for (const auto& s : kSchedules) {
    simt::set_schedule(s);
    simt::launch(config("warp_ops", 2, 64), warp_ops, din.p, sums.p, ballots.p, any_all.p);
    auto got = sums.host();
    auto bal = ballots.host();
    auto aa = any_all.host();
    for (int w = 0; w < 4; ++w) {
      float want = 0;
      unsigned want_ballot = 0;
      for (int l = 0; l < 32; ++l) {
        want += in[size_t(w * 32 + l)];
        if (in[size_t(w * 32 + l)] > 0) want_ballot |= 1u << l;
      }
      CHECK(got[size_t(w)] == want);
      CHECK(bal[size_t(w)] == want_ballot);
      CHECK(aa[size_t(2 * w)] == 0);
      CHECK(aa[size_t(2 * w + 1)] == 1);
    }
  }
}

TEST_CASE("simt: a barrier that some threads never reach is reported with the kernel and line") {
  DeviceBuffer<float> out(64);
  std::string e = error_of([&] { simt::launch(config("early_exit", 1, 64), early_exit, out.p); });
  CHECK(e.find("kernel 'early_exit'") != std::string::npos);
  CHECK(e.find("deadlock") != std::string::npos);
  CHECK(e.find("1 thread(s) exited") != std::string::npos);
  CHECK(e.find("test_simt.cpp:") != std::string::npos);
}

TEST_CASE("simt: a shuffle mask without the calling lane is an error") {
  DeviceBuffer<float> out(32);
  std::string e = error_of([&] { simt::launch(config("bad_mask", 1, 32), bad_mask, out.p); });
  CHECK(e.find("does not include the calling lane 1") != std::string::npos);
  CHECK(e.find("__shfl_sync()") != std::string::npos);
}

TEST_CASE("simt: shared memory starts poisoned and is held to 48 KB") {
  DeviceBuffer<float> out(32);
  simt::launch(config("read_unwritten", 1, 32), read_unwritten, out.p);
  for (float v : out.host()) CHECK(std::isnan(v));
  std::string e = error_of([&] { simt::launch(config("too_much_shared", 1, 32), too_much_shared, out.p); });
  CHECK(e.find("static shared memory") != std::string::npos);
  CHECK(e.find("48 KB") != std::string::npos);
}

TEST_CASE("simt: dynamic shared memory and its limit") {
  std::vector<float> in(64);
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(i);
  DeviceBuffer<float> din(64, in), dout(64);
  auto cfg = config("dynamic_scale", 1, 64);
  cfg.dynamic_shared = 64 * sizeof(float);
  simt::launch(cfg, dynamic_scale, din.p, dout.p, 2.0f);
  auto out = dout.host();
  for (int i = 0; i < 64; ++i) CHECK(out[size_t(i)] == 2.0f * float(63 - i));
  cfg.dynamic_shared = 64 * 1024;  // over 48 KB without opting in
  CHECK(error_of([&] { simt::launch(cfg, dynamic_scale, din.p, dout.p, 2.0f); }).find("dynamic shared memory") !=
        std::string::npos);
}

TEST_CASE("simt: a race shows up as different results under different thread orders") {
  ScheduleGuard guard;
  DeviceBuffer<float> out(64);
  std::vector<std::vector<float>> results;
  for (const auto& s : kSchedules) {
    simt::set_schedule(s);
    simt::launch(config("racy_neighbour", 1, 64), racy_neighbour, out.p);
    results.push_back(out.host());
  }
  CHECK(results[0] != results[1]);
}

TEST_CASE("simt: float atomics must be declared non-deterministic") {
  std::vector<float> ones(32, 1.0f);
  DeviceBuffer<float> din(32, ones), dout(1, {0.0f});
  std::string e = error_of([&] { simt::launch(config("float_atomic_sum", 1, 32), float_atomic_sum, din.p, dout.p); });
  CHECK(e.find("declares it deterministic") != std::string::npos);
  auto cfg = config("float_atomic_sum", 1, 32);
  cfg.deterministic = false;
  cuda::copy(dout.p, ones.data(), sizeof(float), Device::CPU, Device::CUDA);
  simt::launch(cfg, float_atomic_sum, din.p, dout.p);
  CHECK(dout.host()[0] == 33.0f);
}

TEST_CASE("simt: __constant__ memory and __umulhi") {
  const unsigned mult[4] = {0xD2511F53u, 0xCD9E8D57u, 3u, 0xFFFFFFFFu};
  cuda::copy_to_constant(kMultipliers, mult, sizeof mult);
  std::vector<unsigned> x(64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = unsigned(i * 2654435761u);
  DeviceBuffer<unsigned> dx(64, x), dout(64);
  simt::launch(config("mulhi_constant", 1, 64), mulhi_constant, dx.p, dout.p);
  auto out = dout.host();
  for (size_t i = 0; i < 64; ++i) CHECK(out[i] == unsigned((uint64_t(x[i]) * mult[i % 4]) >> 32));
}

TEST_CASE("simt: launch configurations beyond the device's limits are refused") {
  DeviceBuffer<float> out(2048);
  CHECK(error_of([&] { simt::launch(config("read_unwritten", 1, 2048), read_unwritten, out.p); })
            .find("at most 1024") != std::string::npos);
}

TEST_CASE("simt: the host cannot touch device memory outside a launch") {
  DeviceBuffer<float> buf(16, std::vector<float>(16, 1.0f));
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {  // the child reads device memory directly: it must die on SIGSEGV
    if (!freopen("/dev/null", "w", stderr)) _exit(2);
    signal(SIGSEGV, SIG_DFL);  // not the test framework's (or a sanitizer's) report-and-continue
    volatile float v = buf.p[3];
    (void)v;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSEGV);
}

TEST_CASE("cuda runtime: the caching allocator reuses blocks, so a repeated step allocates nothing new") {
  CHECK(CachingAllocator::size_class(1) == 512);
  CHECK(CachingAllocator::size_class(4096) == 4096);
  CHECK(CachingAllocator::size_class(5000) == 5120);
  for (size_t b : {size_t(1) << 20, size_t(3) << 20, size_t(1000001)}) {
    size_t c = CachingAllocator::size_class(b);
    CHECK(c >= b);
    CHECK(double(c) <= 1.25 * double(b) + 512);
  }
  auto step = [] {
    TensorF a = randn<float>({64, 33}).to(Device::CUDA), b = randn<float>({64, 33}).to(Device::CUDA);
    TensorF c = (a + b) * a;
    return c.cpu();
  };
  step();
  const uint64_t before = cuda::raw_allocations();
  for (int i = 0; i < 3; ++i) step();
  CHECK(cuda::raw_allocations() == before);
}

TEST_CASE("cuda tensors: to(), cpu(), device errors") {
  TensorF x = randn<float>({3, 5});
  TensorF d = x.cuda();
  CHECK(d.device() == Device::CUDA);
  TensorF back = d.cpu();
  CHECK(std::memcmp(back.data(), x.data(), 15 * sizeof(float)) == 0);
  std::string e = error_of([&] { (void)d.data(); });
  CHECK(e.find("cuda") != std::string::npos);
  e = error_of([&] { (void)(x + d); });
  CHECK(e.find("cpu") != std::string::npos);
  CHECK(e.find("cuda") != std::string::npos);
  bool listed = false;
  for (Device dev : available_devices()) listed |= dev == Device::CUDA;
  CHECK(listed);
}

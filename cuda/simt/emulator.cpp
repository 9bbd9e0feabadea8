// The SIMT emulator's scheduler, meeting points, shared memory and device memory (see
// emulator.hpp for what it is and what it checks).
#include "emulator.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <vector>

#include "fiber.hpp"
#include "onenip/core/error.hpp"

namespace onenip::simt {

namespace {

constexpr size_t kStackBytes = 256 * 1024;

enum class State : uint8_t { Ready, AtBarrier, AtWarp, Done };

struct Site {
  const char* kind = "";
  const char* file = "";
  int line = 0;
};

struct Thread {
  uint3 idx;
  State state = State::Ready;
  Site site;  // where it waits
};

// One warp's meeting point: lanes arrive with a kind, a mask and a value; the last to arrive
// computes every lane's result.
struct WarpMeeting {
  unsigned arrived = 0;
  unsigned mask = 0;
  Site site;
  uint64_t value[32] = {};
  int src[32] = {};
  uint64_t result[32] = {};
};

struct Launch {
  const LaunchConfig* cfg = nullptr;
  const std::function<void()>* body = nullptr;
  uint3 block;
  std::vector<Thread> threads;
  std::vector<WarpMeeting> warps;
  size_t current = 0;
  std::string error;  // set by a failing thread; the scheduler throws it
  bool used_float_atomics = false;
};

Schedule g_schedule;
LaunchStats g_stats;
Launch* g_launch = nullptr;
std::vector<std::unique_ptr<Fiber>> g_fibers;  // reused across blocks and launches

// Shared memory: a static arena (call sites get offsets at first use in each block) and the
// dynamic one.
struct SharedArena {
  std::vector<unsigned char> memory = std::vector<unsigned char>(kMaxStaticShared + kMaxDynamicShared, 0xFF);
  std::vector<std::pair<const void*, size_t>> sites;
  size_t static_used = 0, poisoned = 0;
  unsigned char* dynamic() { return memory.data() + kMaxStaticShared; }
} g_shared;

std::string thread_str(uint3 t) {
  return "(" + std::to_string(t.x) + "," + std::to_string(t.y) + "," + std::to_string(t.z) + ")";
}
std::string where(const Site& s) {
  std::string file = s.file;
  auto slash = file.rfind('/');
  if (slash != std::string::npos) file = file.substr(slash + 1);
  return std::string(s.kind) + " at " + file + ":" + std::to_string(s.line);
}

std::string label(const LaunchConfig& c) {
  return "kernel '" + std::string(c.name) + "'" + (c.problem.empty() ? "" : " (" + c.problem + ")");
}

Thread& me() { return g_launch->threads[g_launch->current]; }
Fiber& my_fiber() { return *g_fibers[g_launch->current]; }

// Thrown by a failed check inside kernel code: unwinds the fiber's stack (so its temporaries
// are freed) down to fiber_main.
struct KernelAbort {};

// The body of every fiber: run the kernel, then hand back for good.
void fiber_main() {
  my_fiber().entered();
  Launch& l = *g_launch;
  try {
    (*l.body)();
  } catch (const KernelAbort&) {
    // the error is recorded already
  } catch (const std::exception& e) {
    if (l.error.empty()) l.error = std::string("exception in kernel code: ") + e.what();
  }
  me().state = State::Done;
  for (;;) my_fiber().yield_to_scheduler();
}

// A failing check inside kernel code: recorded, and the thread ends.
[[noreturn]] void fail_here(const std::string& what) {
  Launch& l = *g_launch;
  if (l.error.empty()) l.error = "thread " + thread_str(me().idx) + ": " + what;
  throw KernelAbort{};
}

void wait(State s, Site site) {
  me().state = s;
  me().site = site;
  my_fiber().yield_to_scheduler();
}

void set_builtins(const Thread& t) { threadIdx = t.idx; }

std::vector<size_t> pass_order(size_t n, uint64_t& rng) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  if (g_schedule.threads == Order::Reverse) std::reverse(order.begin(), order.end());
  if (g_schedule.threads == Order::Random)
    for (size_t i = n; i > 1; --i) {  // Fisher-Yates with splitmix64
      rng += 0x9E3779B97F4A7C15ull;
      uint64_t z = rng;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      std::swap(order[i - 1], order[size_t(z % i)]);
    }
  return order;
}

// Nobody can run: release a barrier that every live thread reached, or report the deadlock.
void resolve_stall(Launch& l) {
  size_t at_barrier = 0;
  const Thread* first_barrier = nullptr;
  for (const Thread& t : l.threads) {
    if (t.state == State::AtBarrier && !first_barrier) first_barrier = &t;
    at_barrier += t.state == State::AtBarrier;
  }
  const size_t n = l.threads.size();
  if (at_barrier == n) {
    for (const Thread& t : l.threads)
      if (t.site.line != first_barrier->site.line || std::string(t.site.file) != first_barrier->site.file)
        detail::fail(label(*l.cfg), " block ", thread_str(l.block), ": threads wait at different barriers: ",
                     thread_str(first_barrier->idx), " at ", where(first_barrier->site), ", ", thread_str(t.idx),
                     " at ", where(t.site));
    for (Thread& t : l.threads) t.state = State::Ready;
    return;
  }
  // Deadlock: say where every thread is, grouped by site.
  std::map<std::string, std::pair<size_t, std::string>> groups;
  for (const Thread& t : l.threads) {
    std::string w = t.state == State::Done ? "exited" : "waiting at " + where(t.site);
    auto& g = groups[w];
    if (g.first++ == 0) g.second = thread_str(t.idx);
  }
  std::ostringstream os;
  os << label(*l.cfg) << " block " << thread_str(l.block) << ": deadlock, a meeting point some threads never reach:";
  for (auto& [w, g] : groups) os << " " << g.first << " thread(s) " << w << " (first " << g.second << ");";
  throw Error(os.str());
}

void run_block(Launch& l, uint64_t& rng) {
  // Fresh state, poisoned shared memory.
  for (size_t i = 0; i < l.threads.size(); ++i) {
    l.threads[i].state = State::Ready;
    g_fibers[i]->reset(&fiber_main);
  }
  for (auto& w : l.warps) w.arrived = 0;
  g_shared.sites.clear();
  g_shared.static_used = 0;
  std::memset(g_shared.memory.data(), 0xFF, g_shared.poisoned);
  std::memset(g_shared.dynamic(), 0xFF, l.cfg->dynamic_shared);
  blockIdx = l.block;

  for (;;) {
    bool all_done = true;
    for (size_t i : pass_order(l.threads.size(), rng)) {
      Thread& t = l.threads[i];
      if (t.state != State::Ready) continue;
      l.current = i;
      set_builtins(t);
      g_fibers[i]->resume();
      if (!l.error.empty())
        throw Error(label(*l.cfg) + " block " + thread_str(l.block) + ", " + l.error);
    }
    for (const Thread& t : l.threads) all_done &= t.state == State::Done;
    if (all_done) return;
    bool any_ready = false;
    for (const Thread& t : l.threads) any_ready |= t.state == State::Ready;
    if (!any_ready) resolve_stall(l);
  }
}

// ---- device memory ----
struct DeviceRegion {
  char* base = nullptr;
  size_t reserved = 0, top = 0, open_depth = 0;
  std::multimap<size_t, size_t> free_by_size;  // size -> offset
  std::map<size_t, size_t> live;               // offset -> size
  uint64_t mallocs = 0;
} g_region;

struct sigaction g_previous_segv;

void segv_handler(int sig, siginfo_t* info, void* ctx) {
  auto a = reinterpret_cast<char*>(info->si_addr);
  if (g_region.base && a >= g_region.base && a < g_region.base + g_region.reserved) {
    static const char msg[] =
        "onenip: host code touched emulated CUDA device memory outside a kernel launch (a cuda tensor's "
        "data read on the host, or a device pointer given to a CPU kernel)\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    signal(SIGSEGV, SIG_DFL);  // a bug, not a recoverable state: die on the re-executed access
    return;
  }
  sigaction(SIGSEGV, &g_previous_segv, nullptr);  // not ours: re-fault into the previous handler
  (void)sig, (void)ctx;
}

void reserve_region() {
  if (g_region.base) return;
  for (size_t gib : {size_t(64), size_t(16), size_t(4), size_t(1)}) {
    size_t bytes = gib << 30;
    void* m = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m != MAP_FAILED) {
      g_region.base = static_cast<char*>(m);
      g_region.reserved = bytes;
      break;
    }
  }
  ONENIP_CHECK(g_region.base != nullptr, "SIMT emulator: cannot reserve address space for device memory");
  struct sigaction sa {};
  sa.sa_sigaction = &segv_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_previous_segv);
}

// Device memory is readable and writable only between open() and close() (nested).
void open_region() {
  if (g_region.open_depth++ == 0 && g_region.top) mprotect(g_region.base, g_region.top, PROT_READ | PROT_WRITE);
}
void close_region() {
  if (--g_region.open_depth == 0 && g_region.top) mprotect(g_region.base, g_region.top, PROT_NONE);
}
struct RegionOpen {
  RegionOpen() { open_region(); }
  ~RegionOpen() { close_region(); }
};

}  // namespace

const char* order_name(Order o) {
  return o == Order::Forward ? "forward" : o == Order::Reverse ? "reverse" : "random";
}
void set_schedule(const Schedule& s) { g_schedule = s; }
Schedule schedule() { return g_schedule; }
LaunchStats& launch_stats() { return g_stats; }

void run_grid(const LaunchConfig& cfg, const std::function<void()>& body) {
  ONENIP_CHECK(g_launch == nullptr, label(cfg), ": launched from inside another kernel");
  const dim3 g = cfg.grid, b = cfg.block;
  const size_t threads = size_t(b.x) * b.y * b.z;
  ONENIP_CHECK(threads >= 1 && threads <= kMaxThreadsPerBlock && b.z <= 64, label(cfg),
               ": block of ", b.x, " x ", b.y, " x ", b.z, " threads (at most ", kMaxThreadsPerBlock,
               " per block, z at most 64)");
  ONENIP_CHECK(g.y <= 65535 && g.z <= 65535 && g.x >= 1 && g.y >= 1 && g.z >= 1, label(cfg), ": grid of ",
               g.x, " x ", g.y, " x ", g.z, " blocks is out of range");
  ONENIP_CHECK(cfg.max_dynamic_shared <= kMaxDynamicShared && cfg.dynamic_shared <= cfg.max_dynamic_shared,
               label(cfg), ": ", cfg.dynamic_shared, " bytes of dynamic shared memory (limit ",
               cfg.max_dynamic_shared, ", at most ", kMaxDynamicShared, " with the opt-in attribute)");
  ++g_stats.launches;
  g_stats.nondeterministic |= !cfg.deterministic;

  Launch l;
  l.cfg = &cfg;
  l.body = &body;
  l.threads.resize(threads);
  for (size_t i = 0; i < threads; ++i)
    l.threads[i].idx = {unsigned(i % b.x), unsigned(i / b.x % b.y), unsigned(i / (size_t(b.x) * b.y))};
  l.warps.resize((threads + 31) / 32);
  while (g_fibers.size() < threads) g_fibers.push_back(std::make_unique<Fiber>(kStackBytes));
  blockDim = b;
  gridDim = g;

  const size_t blocks = size_t(g.x) * g.y * g.z;
  uint64_t rng = g_schedule.seed * 0x2545F4914F6CDD1Dull + 1;
  g_launch = &l;
  RegionOpen open;
  try {
    for (size_t n = 0; n < blocks; ++n) {
      size_t k = g_schedule.reverse_blocks ? blocks - 1 - n : n;
      l.block = {unsigned(k % g.x), unsigned(k / g.x % g.y), unsigned(k / (size_t(g.x) * g.y))};
      run_block(l, rng);
    }
  } catch (...) {
    g_launch = nullptr;
    throw;
  }
  g_launch = nullptr;
  if (l.used_float_atomics && cfg.deterministic)
    detail::fail(label(cfg), " adds floats atomically, so its result depends on the order of threads, "
                 "but its launch declares it deterministic (set LaunchConfig::deterministic = false)");
}

// ---- device memory ----
void* device_malloc(size_t bytes) {
  reserve_region();
  const size_t size = (std::max<size_t>(bytes, 1) + 255) / 256 * 256;
  ++g_region.mallocs;
  size_t offset;
  auto it = g_region.free_by_size.lower_bound(size);
  if (it != g_region.free_by_size.end() && it->first == size) {
    offset = it->second;
    g_region.free_by_size.erase(it);
  } else {
    ONENIP_CHECK(g_region.top + size <= g_region.reserved, "out of emulated device memory allocating ", bytes,
                 " bytes (", g_region.top, " in use)");
    offset = g_region.top;
    g_region.top += size;
  }
  g_region.live[offset] = size;
  return g_region.base + offset;
}

void device_free(void* p) noexcept {
  if (!p) return;
  size_t offset = size_t(static_cast<char*>(p) - g_region.base);
  auto it = g_region.live.find(offset);
  if (it == g_region.live.end()) {
    std::fprintf(stderr, "onenip: device_free of %p, which is not a live emulated allocation\n", p);
    std::abort();
  }
  g_region.free_by_size.emplace(it->second, offset);
  g_region.live.erase(it);
}

bool is_device_pointer(const void* p) {
  auto a = static_cast<const char*>(p);
  return g_region.base && a >= g_region.base && a < g_region.base + g_region.reserved;
}

void device_memcpy(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  RegionOpen open;
  std::memcpy(dst, src, bytes);
}

void device_memset(void* dst, int value, size_t bytes) {
  if (!bytes) return;
  RegionOpen open;
  std::memset(dst, value, bytes);
}

uint64_t device_malloc_count() { return g_region.mallocs; }

// ---- kernel-side ----
namespace emu {

void kernel_fail(const char* file, int line, const std::string& what) {
  fail_here(where({"check", file, line}) + ": " + what);
}

void sync_threads(const char* file, int line) { wait(State::AtBarrier, {"__syncthreads()", file, line}); }

unsigned lane_id() {
  Launch& l = *g_launch;
  return unsigned(l.current % 32);
}

namespace {
// Arrive at this warp's meeting point; the last lane of the mask computes all results.
uint64_t warp_meet(const char* kind, unsigned mask, uint64_t value, int src, const char* file, int line,
                   uint64_t (*combine)(WarpMeeting&, unsigned lane)) {
  Launch& l = *g_launch;
  const size_t warp = l.current / 32;
  const unsigned lane = unsigned(l.current % 32);
  const size_t lanes_here = std::min<size_t>(32, l.threads.size() - warp * 32);
  const unsigned existing = lanes_here == 32 ? ~0u : (1u << lanes_here) - 1;
  Site site{kind, file, line};
  if (!(mask >> lane & 1u))
    fail_here(where(site) + ": the mask 0x" + [&] { std::ostringstream o; o << std::hex << mask; return o.str(); }() +
              " does not include the calling lane " + std::to_string(lane));
  if (mask & ~existing)
    fail_here(where(site) + ": the mask names lanes past the end of the block (it has " + std::to_string(lanes_here) +
              " lanes in this warp)");
  WarpMeeting& w = l.warps[warp];
  if (w.arrived == 0) {
    w.mask = mask;
    w.site = site;
  } else if (w.mask != mask || std::string(w.site.kind) != kind) {
    fail_here(where(site) + " with mask 0x" + std::to_string(mask) + " meets " + where(w.site) + " with mask 0x" +
              std::to_string(w.mask) + " in the same warp");
  }
  w.value[lane] = value;
  w.src[lane] = src;
  w.arrived |= 1u << lane;
  if (w.arrived == mask) {
    for (unsigned k = 0; k < 32; ++k)
      if (mask >> k & 1u) w.result[k] = combine(w, k);
    for (unsigned k = 0; k < 32; ++k)
      if (mask >> k & 1u) l.threads[warp * 32 + k].state = State::Ready;
    w.arrived = 0;
    my_fiber().yield_to_scheduler();  // still yield (Ready), so the schedule decides who runs next
  } else {
    wait(State::AtWarp, site);
  }
  return w.result[lane];
}
}  // namespace

uint64_t warp_exchange(const char* kind, unsigned mask, uint64_t value, int src_lane, const char* file, int line) {
  return warp_meet(kind, mask, value, src_lane, file, line, [](WarpMeeting& w, unsigned lane) -> uint64_t {
    int s = w.src[lane];
    if (s < 0 || s > 31 || !(w.mask >> s & 1u)) {
      // Reading a lane outside the mask is undefined on the device.
      g_launch->error = "thread lane " + std::to_string(lane) + ": " + where(w.site) + " reads lane " +
                        std::to_string(s) + ", which is not in the mask";
      return 0;
    }
    return w.value[s];
  });
}

unsigned warp_vote(const char* kind, unsigned mask, bool pred, const char* file, int line) {
  uint64_t r = warp_meet(kind, mask, pred ? 1 : 0, 0, file, line, [](WarpMeeting& w, unsigned) -> uint64_t {
    unsigned ballot = 0;
    for (unsigned k = 0; k < 32; ++k)
      if ((w.mask >> k & 1u) && w.value[k]) ballot |= 1u << k;
    return ballot;
  });
  return unsigned(r);
}

void sync_warp(unsigned mask, const char* file, int line) { warp_vote("__syncwarp()", mask, true, file, line); }

void* static_shared(const void* site, size_t bytes, size_t align, const char* file, int line) {
  for (auto& [s, offset] : g_shared.sites)
    if (s == site) return g_shared.memory.data() + offset;
  size_t offset = (g_shared.static_used + align - 1) / align * align;
  if (offset + bytes > kMaxStaticShared)
    fail_here(where({"__shared__", file, line}) + ": " + std::to_string(offset + bytes) +
              " bytes of static shared memory in the block (the limit is 48 KB)");
  g_shared.sites.emplace_back(site, offset);
  g_shared.static_used = offset + bytes;
  g_shared.poisoned = std::max(g_shared.poisoned, g_shared.static_used);
  return g_shared.memory.data() + offset;
}

void* dynamic_shared() { return g_shared.dynamic(); }

void note_float_atomic() { g_launch->used_float_atomics = true; }

}  // namespace emu
}  // namespace onenip::simt

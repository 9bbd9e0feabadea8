/// \file
/// CPU threading: one level of OpenMP. Kernels parallelise their outer loop with
/// parallel_for; Eigen's products always run single-threaded (the CPU GEMM spreads them over
/// the threads itself), so threads never nest.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif
#include <Eigen/Core>

namespace onenip {

inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Eigen's products never split themselves over threads: Eigen chooses its K blocking from its
/// thread count, so a product's bits would follow it. The CPU GEMM splits large products over
/// the threads itself, in whole blocks (kernels/cpu/gemm.hpp); every other Eigen product runs on
/// the thread that calls it. Set before main in every program that includes this header, and
/// again by set_num_threads.
inline void keep_eigen_on_one_thread() { Eigen::setNbThreads(1); }

namespace detail {
inline const bool eigen_on_one_thread_at_start = (keep_eigen_on_one_thread(), true);
}

/// Threads for kernels. Default: the machine's cores.
inline void set_num_threads(int n) {
  n = std::max(1, n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  keep_eigen_on_one_thread();
}

namespace detail {

// One spin of a waiting thread (the core's hint that this is a spin loop).
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waits until `done` reaches `target` or about 200 us have passed, spinning: long enough for a
// worker that started late to finish its chunk; past that the caller sleeps at the region's end
// barrier (a thread spinning for milliseconds would slow a worker sharing its core).
inline void wait_briefly(const std::atomic<int64_t>& done, int64_t target) {
  using clock = std::chrono::steady_clock;
  const auto until = clock::now() + std::chrono::microseconds(200);
  for (int spins = 1; done.load(std::memory_order_acquire) < target; ++spins) {
    cpu_relax();
    if (spins % 64 == 0 && clock::now() > until) return;
  }
}

}  // namespace detail

/// Run f(begin, end) over [0, n) in chunks, in parallel when the work is worth it.
/// `grain` is the smallest chunk worth a thread (in iterations).
///
/// The chunks are a static split (one per thread, the same bounds whatever thread runs them),
/// but the threads take them in turn and the calling thread waits for the last ones awake.
/// Why: a worker that slept between regions (OMP_WAIT_POLICY=PASSIVE, or past libgomp's spin
/// time) starts late: 50-70 us on the Zen 4 KVM guests we measured, as long as a small op. Taking
/// chunks in turn, the calling thread runs the late worker's chunk itself; waiting awake for a
/// moment, it is not put to sleep at the region's end barrier to be woken again, a second such
/// delay. Batch-1 inference: 11 % faster under PASSIVE; no change with libgomp's default wait.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = num_threads();
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    const int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
    std::atomic<int64_t> next{0}, done{0};
#pragma omp parallel num_threads(int(chunks))
    {
      for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < chunks;) {
        const int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
        if (b < e) f(b, e);
        done.fetch_add(1, std::memory_order_release);
      }
      if (omp_get_thread_num() == 0) detail::wait_briefly(done, chunks);
    }
    return;
  }
#endif
  f(int64_t(0), n);
}

}  // namespace onenip

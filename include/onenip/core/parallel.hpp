/// \file
/// CPU threading: one level of OpenMP. Kernels parallelise their outer loop with
/// parallel_for; Eigen's products always run single-threaded (the CPU GEMM spreads them over
/// the threads itself), so threads never nest.
#pragma once

#include <algorithm>
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

/// Run f(begin, end) over [0, n) in chunks, in parallel when the work is worth it.
/// `grain` is the smallest chunk worth a thread (in iterations).
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
#ifdef _OPENMP
  int threads = num_threads();
  if (threads > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(int64_t(0), n);
}

}  // namespace onenip

// CPU reductions. Every output element is summed in index order by one thread, so results do
// not depend on the thread count.
#pragma once

#include <cmath>
#include <vector>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

template <typename T>
void sum(const SumProblem<T>& p) {
  const int64_t cols = p.inner, len = p.len;
  if (p.inner == 1) {  // row sums
    parallel_for(p.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1)), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = p.in + r * len;
        T acc = T(0);
        for (int64_t i = 0; i < len; ++i) acc += row[i];
        p.out[r] = acc;
      }
    });
    return;
  }
  // Column sums per outer slice: whole rows added into the output row, vectorised along inner.
  for (int64_t o = 0; o < p.outer; ++o) {
    const T* src = p.in + o * len * cols;
    T* dst = p.out + o * cols;
    parallel_for(cols, 1024, [&](int64_t c0, int64_t c1) {
      std::fill(dst + c0, dst + c1, T(0));
      for (int64_t r = 0; r < len; ++r) {
        const T* row = src + r * cols;
        for (int64_t c = c0; c < c1; ++c) dst[c] += row[c];
      }
    });
  }
}

template <typename T>
void arg_extreme(const ArgExtremeProblem<T>& p) {
  for (int64_t r = 0; r < p.rows; ++r) {
    const T* row = p.in + r * p.len;
    int64_t best = 0;
    for (int64_t i = 1; i < p.len; ++i)
      if (p.want_max ? (row[i] > row[best] || std::isnan(row[i])) : (row[i] < row[best] || std::isnan(row[i]))) {
        best = i;
        if (std::isnan(row[i])) break;
      }
    p.values[r] = row[best];
    p.index[r] = best;
  }
}

template <typename T>
double sum_of_squares(const SumOfSquaresProblem<T>& p) {
  const int64_t n = p.n, block = 1 << 14, nb = (n + block - 1) / block;
  std::vector<double> part(size_t(std::max<int64_t>(nb, 1)), 0.0);
  parallel_for(nb, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double s = 0;
      for (int64_t i = b * block, e = std::min(n, i + block); i < e; ++i) s += double(p.in[i]) * double(p.in[i]);
      part[size_t(b)] = s;
    }
  });
  double s = 0;
  for (double x : part) s += x;
  return s;
}

}  // namespace onenip::kernels::cpu

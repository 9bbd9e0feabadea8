// CPU optimiser updates: elementwise, in parallel chunks.
#pragma once

#include <cmath>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

template <typename T>
void adamw_step(const AdamWProblem<T>& q) {
  T* pp = q.p;
  const T* gp = q.g;
  T* m = q.m;
  T* v = q.v;
  parallel_for(q.n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      T gk = gp[k];
      if (q.decoupled) pp[k] *= q.decay;
      else if (q.use_l2) gk += q.l2 * pp[k];
      m[k] += q.w1 * (gk - m[k]);
      v[k] = v[k] * q.b2 + q.w2 * gk * gk;
      pp[k] += -q.step_size * (m[k] / (std::sqrt(v[k]) / q.bc2_sqrt + q.eps));
    }
  });
}

}  // namespace onenip::kernels::cpu

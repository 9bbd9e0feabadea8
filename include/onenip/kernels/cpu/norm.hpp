// CPU layer norm and batch norm: one pass per row (layer norm) or per channel plane (batch
// norm) on Eigen arrays, in parallel; parameter-gradient sums in fixed blocks.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

namespace detail {

// Sum over rows of per-row contributions, deterministically: rows are cut into fixed blocks,
// `block(r0, r1, acc)` adds the rows' contributions into acc [width] (zeroed), and the block
// results are added in block order. Returns the [width] total.
template <typename T, typename F>
std::vector<T> blocked_row_sums(int64_t rows, int64_t width, int64_t block_rows, F&& block) {
  int64_t nb = (rows + block_rows - 1) / block_rows;
  std::vector<T> partial(size_t(nb * width), T(0));
  parallel_for(nb, std::max<int64_t>(1, 65536 / std::max<int64_t>(block_rows * width, 1)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      block(b * block_rows, std::min(rows, (b + 1) * block_rows), partial.data() + b * width);
  });
  std::vector<T> total(size_t(width), T(0));
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t j = 0; j < width; ++j) total[size_t(j)] += partial[size_t(b * width + j)];
  return total;
}

template <typename T> using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;

// Layer norm's row statistics when the row's sum or squares overflow T (|x| near T's largest
// value): those of x / max|x|, scaled back, since layer norm is scale-free apart from eps.
// Then x - mean stays finite for |x| up to half T's largest value, and so does the output.
template <typename T, typename Row>
void scaled_row_stats(const Row& x, double eps, T& mean, T& rstd) {
  const T a = x.abs().maxCoeff();
  const Arr<T> xs = x / a;
  const T ms = xs.mean();
  const double v = double((xs - ms).square().mean()), s = double(a);
  mean = ms * a;
  // eps / s^2 underflows to 0 (s^2 may even overflow): a constant row keeps 1/sqrt(eps)
  rstd = T(v == 0 ? 1 / std::sqrt(eps) : 1 / (std::sqrt(v + eps / (s * s)) * s));
}

}  // namespace detail

template <typename T>
void layer_norm(const LayerNormProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t C = p.C;
  const T* wp = p.w;
  const T* bp = p.b;
  parallel_for(p.rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Arr> xr(p.x + r * C, C);
      Eigen::Map<Arr> yr(p.y + r * C, C);
      T mu = xr.mean(), var = (xr - mu).square().mean();
      T rs = T(1) / std::sqrt(var + T(p.eps));
      if (!std::isfinite(mu) || !std::isfinite(var)) detail::scaled_row_stats(xr, p.eps, mu, rs);
      p.mean[r] = mu, p.rstd[r] = rs;
      if (wp && bp) yr = (xr - mu) * rs * Eigen::Map<const Arr>(wp, C) + Eigen::Map<const Arr>(bp, C);
      else if (wp) yr = (xr - mu) * rs * Eigen::Map<const Arr>(wp, C);
      else if (bp) yr = (xr - mu) * rs + Eigen::Map<const Arr>(bp, C);
      else yr = (xr - mu) * rs;
    }
  });
}

template <typename T>
void layer_norm_backward(const LayerNormBackwardProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t C = p.C;
  const T* wp = p.w;
  T* dp = p.dx;
  const bool sums_needed = p.dw || p.db;
  // One block pass: dx rows, and partial sums [dw | db] of width 2C.
  std::vector<T> sums = detail::blocked_row_sums<T>(p.rows, 2 * C, 64, [&](int64_t r0, int64_t r1, T* acc) {
    Eigen::Map<Arr> dw_acc(acc, C), db_acc(acc + C, C);
    Arr xhat(C), gw_row(C);
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Arr> xr(p.x + r * C, C), gr(p.g + r * C, C);
      T rs = p.rstd[r];
      xhat = (xr - p.mean[r]) * rs;
      if (sums_needed) dw_acc += gr * xhat, db_acc += gr;
      if (!dp) continue;
      if (wp) gw_row = gr * Eigen::Map<const Arr>(wp, C);
      else gw_row = gr;
      T m1 = gw_row.mean(), m2 = (gw_row * xhat).mean();
      Eigen::Map<Arr>(dp + r * C, C) = rs * (gw_row - m1 - xhat * m2);
    }
  });
  if (p.dw) std::copy(sums.begin(), sums.begin() + C, p.dw);
  if (p.db) std::copy(sums.begin() + C, sums.end(), p.db);
}

template <typename T>
void rms_norm(const RMSNormProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t C = p.C;
  parallel_for(p.rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Arr> xr(p.x + r * C, C);
      Eigen::Map<Arr> yr(p.y + r * C, C);
      const T rs = T(1) / std::sqrt(xr.square().mean() + T(p.eps));
      p.rstd[r] = rs;
      if (p.w) yr = xr * rs * Eigen::Map<const Arr>(p.w, C);
      else yr = xr * rs;
    }
  });
}

template <typename T>
void rms_norm_backward(const RMSNormBackwardProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t C = p.C;
  // One block pass: dx rows, and partial sums of dw (width C).
  std::vector<T> dw = detail::blocked_row_sums<T>(p.rows, C, 64, [&](int64_t r0, int64_t r1, T* acc) {
    Eigen::Map<Arr> dw_acc(acc, C);
    Arr xhat(C), gw(C);
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Arr> xr(p.x + r * C, C), gr(p.g + r * C, C);
      const T rs = p.rstd[r];
      xhat = xr * rs;
      if (p.dw) dw_acc += gr * xhat;
      if (!p.dx) continue;
      if (p.w) gw = gr * Eigen::Map<const Arr>(p.w, C);
      else gw = gr;
      Eigen::Map<Arr>(p.dx + r * C, C) = rs * (gw - xhat * (gw * xhat).mean());
    }
  });
  if (p.dw) std::copy(dw.begin(), dw.end(), p.dw);
}

template <typename T>
void batch_norm(const BatchNormProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t N = p.N, C = p.C, S = p.S, M = N * S;
  const T* xp = p.x;
  auto plane = [&](const T* base, int64_t n, int64_t c) { return Eigen::Map<const Arr>(base + (n * C + c) * S, S); };
  T* mean = p.mean;
  T* rstd = p.rstd;
  if (p.training) {
    std::vector<T> var(static_cast<size_t>(C));
    parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T s = 0, ss = 0;
        for (int64_t n = 0; n < N; ++n) s += plane(xp, n, c).sum();
        T mu = s / T(M);
        for (int64_t n = 0; n < N; ++n) ss += (plane(xp, n, c) - mu).square().sum();
        mean[c] = mu, var[size_t(c)] = ss / T(M), rstd[c] = T(1) / std::sqrt(ss / T(M) + T(p.eps));
      }
    });
    if (p.running_mean) {
      const T m = T(p.momentum), unbias = T(M) / T(M - 1);
      for (int64_t c = 0; c < C; ++c) {
        T& rm = p.running_mean[c * p.running_mean_stride];
        T& rv = p.running_var[c * p.running_var_stride];
        rm = (T(1) - m) * rm + m * mean[c];
        rv = (T(1) - m) * rv + m * var[size_t(c)] * unbias;
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[c] = p.running_mean[c * p.running_mean_stride];
      rstd[c] = T(1) / std::sqrt(p.running_var[c * p.running_var_stride] + T(p.eps));
    }
  }
  // y = x * scale_c + shift_c, plane by plane.
  std::vector<T> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    T wc = p.w ? p.w[c] : T(1), bc = p.b ? p.b[c] : T(0);
    scale[size_t(c)] = rstd[c] * wc;
    shift[size_t(c)] = bc - mean[c] * scale[size_t(c)];
  }
  T* yp = p.y;
  parallel_for(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t q = p0; q < p1; ++q) {
      int64_t c = q % C;
      Eigen::Map<Arr>(yp + q * S, S) = Eigen::Map<const Arr>(xp + q * S, S) * scale[size_t(c)] + shift[size_t(c)];
    }
  });
}

template <typename T>
void batch_norm_backward(const BatchNormBackwardProblem<T>& p) {
  using Arr = detail::Arr<T>;
  const int64_t N = p.N, C = p.C, S = p.S, M = N * S;
  const T* xp = p.x;
  const T* gp = p.g;
  const T* mean = p.mean;
  const T* rstd = p.rstd;
  // Per channel: sg = sum(g), sgx = sum(g * xhat).
  std::vector<T> sg(static_cast<size_t>(C)), sgx(static_cast<size_t>(C));
  parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T a = 0, d = 0;
      for (int64_t n = 0; n < N; ++n) {
        Eigen::Map<const Arr> xr(xp + (n * C + c) * S, S), gr(gp + (n * C + c) * S, S);
        a += gr.sum();
        d += (gr * (xr - mean[c])).sum();
      }
      sg[size_t(c)] = a, sgx[size_t(c)] = d * rstd[c];
    }
  });
  if (p.dx) {
    // dx = w rstd (g - [train] (sg + xhat sgx) / M) = A g + B x + K per channel.
    std::vector<T> A(static_cast<size_t>(C)), B(static_cast<size_t>(C)), K(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      T wr = (p.w ? p.w[c] : T(1)) * rstd[c];
      T a = p.training ? sg[size_t(c)] / T(M) : T(0), bc = p.training ? sgx[size_t(c)] / T(M) : T(0);
      A[size_t(c)] = wr;
      B[size_t(c)] = -wr * rstd[c] * bc;
      K[size_t(c)] = wr * (mean[c] * rstd[c] * bc - a);
    }
    T* dp = p.dx;
    parallel_for(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)), [&](int64_t p0, int64_t p1) {
      for (int64_t q = p0; q < p1; ++q) {
        size_t c = size_t(q % C);
        Eigen::Map<Arr>(dp + q * S, S) =
            Eigen::Map<const Arr>(gp + q * S, S) * A[c] + Eigen::Map<const Arr>(xp + q * S, S) * B[c] + K[c];
      }
    });
  }
  if (p.dw) std::copy(sgx.begin(), sgx.end(), p.dw);
  if (p.db) std::copy(sg.begin(), sg.end(), p.db);
}

}  // namespace onenip::kernels::cpu

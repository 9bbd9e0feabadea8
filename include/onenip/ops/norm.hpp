// Normalisation layers with fused kernels and hand-written backward.
//   layer_norm: over the last dim, one pass per row; saves x, and the row mean and 1/std.
//   batch_norm: per channel of x [N, C, *]; batch statistics when training (running stats
//     updated in the forward only, PyTorch's momentum rule and unbiased variance), running
//     statistics in eval.
// Parameter gradients are sums over rows computed in fixed blocks and added in a fixed
// order, so they do not depend on the thread count.
#pragma once

#include <Eigen/Core>

#include "elementwise.hpp"

namespace onenip {

namespace detail {

// Check an optional per-channel parameter ([C] or undefined) and return it contiguous.
template <typename T>
Tensor<T> channel_param(const Tensor<T>& p, int64_t C, const char* op, const char* name, const Shape& x_shape) {
  if (!p.defined()) return p;
  ONENIP_CHECK(p.shape() == Shape{C}, op, ": ", name, " must have shape [", C, "] for input ", shape_str(x_shape),
               ", got ", shape_str(p.shape()));
  return p.detach().contiguous();
}

// Sum over rows of per-row contributions, deterministically: rows are cut into fixed blocks,
// `block(r0, r1, acc)` adds the rows' contributions into acc [width] (zeroed), and the
// block results are added in block order. Returns the [width] total.
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

template <typename T>
Tensor<T> vector_tensor(const std::vector<T>& v) {
  return Tensor<T>::from_vector(v, {int64_t(v.size())});
}

}  // namespace detail

// (x - mean) / sqrt(var + eps) * weight + bias over the last dim. weight, bias: [C] or undefined.
template <typename T>
Tensor<T> layer_norm(const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, double eps = 1e-5) {
  ONENIP_CHECK(x.dim() >= 1, "layer_norm: input must have at least one dim, got a scalar");
  const int64_t C = x.size(-1), rows = C > 0 ? x.numel() / C : 0;
  Tensor<T> w = detail::channel_param(weight, C, "layer_norm", "weight", x.shape());
  Tensor<T> b = detail::channel_param(bias, C, "layer_norm", "bias", x.shape());
  Tensor<T> xc = x.detach().contiguous();
  Tensor<T> out = Tensor<T>::empty(x.shape());
  std::vector<T> mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
  const T* xp = xc.data();
  T* yp = out.data();
  const T* wp = w.defined() ? w.data() : nullptr;
  const T* bp = b.defined() ? b.data() : nullptr;
  parallel_for(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(C, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Arr> xr(xp + r * C, C);
      Eigen::Map<Arr> yr(yp + r * C, C);
      T mu = xr.mean();
      T rs = T(1) / std::sqrt((xr - mu).square().mean() + T(eps));
      mean[size_t(r)] = mu, rstd[size_t(r)] = rs;
      if (wp && bp) yr = (xr - mu) * rs * Eigen::Map<const Arr>(wp, C) + Eigen::Map<const Arr>(bp, C);
      else if (wp) yr = (xr - mu) * rs * Eigen::Map<const Arr>(wp, C);
      else if (bp) yr = (xr - mu) * rs + Eigen::Map<const Arr>(bp, C);
      else yr = (xr - mu) * rs;
    }
  });
  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(xc, "LayerNorm"), sw(w, "LayerNorm");
  return record<T>(out, "LayerNorm", {x, weight, bias},
                   [sx, sw, mean = std::move(mean), rstd = std::move(rstd), C, rows, gx, gw, gb](const Tensor<T>& g) {
    Tensor<T> xs = sx.get(), ws = sw.get(), gc = g.contiguous();
    const T* xp = xs.data();
    const T* gp = gc.data();
    const T* wp = ws.defined() ? ws.data() : nullptr;
    Tensor<T> dx = gx ? Tensor<T>::empty(xs.shape()) : Tensor<T>();
    T* dp = gx ? dx.data() : nullptr;
    // One block pass: dx rows, and partial sums [dw | db] of width 2C.
    std::vector<T> sums = detail::blocked_row_sums<T>(rows, 2 * C, 64, [&](int64_t r0, int64_t r1, T* acc) {
      Eigen::Map<Arr> dw_acc(acc, C), db_acc(acc + C, C);
      Arr xhat(C), gw_row(C);
      for (int64_t r = r0; r < r1; ++r) {
        Eigen::Map<const Arr> xr(xp + r * C, C), gr(gp + r * C, C);
        T rs = rstd[size_t(r)];
        xhat = (xr - mean[size_t(r)]) * rs;
        if (gw || gb) dw_acc += gr * xhat, db_acc += gr;
        if (!dp) continue;
        if (wp) gw_row = gr * Eigen::Map<const Arr>(wp, C);
        else gw_row = gr;
        T m1 = gw_row.mean(), m2 = (gw_row * xhat).mean();
        Eigen::Map<Arr>(dp + r * C, C) = rs * (gw_row - m1 - xhat * m2);
      }
    });
    Tensor<T> dw, db;
    if (gw) dw = detail::vector_tensor(std::vector<T>(sums.begin(), sums.begin() + C));
    if (gb) db = detail::vector_tensor(std::vector<T>(sums.begin() + C, sums.end()));
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

// x [N, C] or [N, C, *]. training: normalise with the batch statistics and, when running stats
// are given, update them in place: running = (1 - momentum) running + momentum batch_stat, the
// variance unbiased. Eval: normalise with the running statistics (required then).
template <typename T>
Tensor<T> batch_norm(const Tensor<T>& x, Tensor<T> running_mean, Tensor<T> running_var, const Tensor<T>& weight,
                     const Tensor<T>& bias, bool training, double momentum = 0.1, double eps = 1e-5) {
  ONENIP_CHECK(x.dim() >= 2, "batch_norm: input must be [N, C] or [N, C, *], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1), S = C > 0 && N > 0 ? x.numel() / (N * C) : 0, M = N * S;
  Tensor<T> w = detail::channel_param(weight, C, "batch_norm", "weight", x.shape());
  Tensor<T> b = detail::channel_param(bias, C, "batch_norm", "bias", x.shape());
  detail::channel_param(running_mean, C, "batch_norm", "running_mean", x.shape());
  detail::channel_param(running_var, C, "batch_norm", "running_var", x.shape());
  ONENIP_CHECK(running_mean.defined() == running_var.defined(),
               "batch_norm: give both running_mean and running_var or neither");
  ONENIP_CHECK(training || running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
  ONENIP_CHECK(!training || M > 1, "batch_norm: training needs more than one value per channel, got input ",
               shape_str(x.shape()));
  using Arr = Eigen::Array<T, Eigen::Dynamic, 1>;
  Tensor<T> xc = x.detach().contiguous();
  const T* xp = xc.data();
  auto plane = [&](const T* base, int64_t n, int64_t c) { return Eigen::Map<const Arr>(base + (n * C + c) * S, S); };

  std::vector<T> mean(static_cast<size_t>(C)), rstd(static_cast<size_t>(C));
  if (training) {
    std::vector<T> var(static_cast<size_t>(C));
    parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T s = 0, ss = 0;
        for (int64_t n = 0; n < N; ++n) s += plane(xp, n, c).sum();
        T mu = s / T(M);
        for (int64_t n = 0; n < N; ++n) ss += (plane(xp, n, c) - mu).square().sum();
        mean[size_t(c)] = mu, var[size_t(c)] = ss / T(M), rstd[size_t(c)] = T(1) / std::sqrt(ss / T(M) + T(eps));
      }
    });
    if (running_mean.defined()) {
      const T m = T(momentum), unbias = T(M) / T(M - 1);
      for (int64_t c = 0; c < C; ++c) {
        T& rm = running_mean.data()[c * running_mean.stride(0)];
        T& rv = running_var.data()[c * running_var.stride(0)];
        rm = (T(1) - m) * rm + m * mean[size_t(c)];
        rv = (T(1) - m) * rv + m * var[size_t(c)] * unbias;
      }
      running_mean.bump_version();
      running_var.bump_version();
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean[size_t(c)] = running_mean.data()[c * running_mean.stride(0)];
      rstd[size_t(c)] = T(1) / std::sqrt(running_var.data()[c * running_var.stride(0)] + T(eps));
    }
  }

  // y = x * scale_c + shift_c, plane by plane.
  Tensor<T> out = Tensor<T>::empty(x.shape());
  std::vector<T> scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    T wc = w.defined() ? w.data()[c] : T(1), bc = b.defined() ? b.data()[c] : T(0);
    scale[size_t(c)] = rstd[size_t(c)] * wc;
    shift[size_t(c)] = bc - mean[size_t(c)] * scale[size_t(c)];
  }
  T* yp = out.data();
  parallel_for(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      int64_t c = p % C;
      Eigen::Map<Arr>(yp + p * S, S) = Eigen::Map<const Arr>(xp + p * S, S) * scale[size_t(c)] + shift[size_t(c)];
    }
  });

  bool gx = any_requires_grad<T>({&x}), gw = any_requires_grad<T>({&weight}), gb = any_requires_grad<T>({&bias});
  if (!gx && !gw && !gb) return out;
  SavedTensor<T> sx(xc, "BatchNorm"), sw(w, "BatchNorm");
  return record<T>(out, "BatchNorm", {x, weight, bias},
                   [sx, sw, mean = std::move(mean), rstd = std::move(rstd), N, C, S, M, training, gx, gw,
                    gb](const Tensor<T>& g) {
    Tensor<T> xs = sx.get(), ws = sw.get(), gc = g.contiguous();
    const T* xp = xs.data();
    const T* gp = gc.data();
    // Per channel: sg = sum(g), sgx = sum(g * xhat).
    std::vector<T> sg(static_cast<size_t>(C)), sgx(static_cast<size_t>(C));
    parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(M, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        T a = 0, d = 0;
        for (int64_t n = 0; n < N; ++n) {
          Eigen::Map<const Arr> xr(xp + (n * C + c) * S, S), gr(gp + (n * C + c) * S, S);
          a += gr.sum();
          d += (gr * (xr - mean[size_t(c)])).sum();
        }
        sg[size_t(c)] = a, sgx[size_t(c)] = d * rstd[size_t(c)];
      }
    });
    Tensor<T> dx, dw, db;
    if (gx) {
      // dx = w rstd (g - [train] (sg + xhat sgx) / M) = A g + B x + K per channel.
      std::vector<T> A(static_cast<size_t>(C)), B(static_cast<size_t>(C)), K(static_cast<size_t>(C));
      for (int64_t c = 0; c < C; ++c) {
        T wr = (ws.defined() ? ws.data()[c] : T(1)) * rstd[size_t(c)];
        T a = training ? sg[size_t(c)] / T(M) : T(0), bc = training ? sgx[size_t(c)] / T(M) : T(0);
        A[size_t(c)] = wr;
        B[size_t(c)] = -wr * rstd[size_t(c)] * bc;
        K[size_t(c)] = wr * (mean[size_t(c)] * rstd[size_t(c)] * bc - a);
      }
      dx = Tensor<T>::empty(xs.shape());
      T* dp = dx.data();
      parallel_for(N * C, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          size_t c = size_t(p % C);
          Eigen::Map<Arr>(dp + p * S, S) =
              Eigen::Map<const Arr>(gp + p * S, S) * A[c] + Eigen::Map<const Arr>(xp + p * S, S) * B[c] + K[c];
        }
      });
    }
    if (gw) dw = detail::vector_tensor(sgx);
    if (gb) db = detail::vector_tensor(sg);
    return std::vector<Tensor<T>>{dx, dw, db};
  });
}

}  // namespace onenip

// Layer norm and RMS norm on CUDA, forward and backward. A row of x [rows, C] gets a warp (C up
// to 1024) or a block; row statistics are fixed-tree sums (block_reduce.cuh). The parameter
// gradients (sums over rows) are per-part column sums over fixed runs of rows written to scratch,
// then reduced over the parts by the sum kernel: no atomics, the same bits on every run.
#include <cmath>
#include <string>

#include "block_reduce.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/norm.hpp"
#include "onenip/kernels/problems/reduce.hpp"

namespace onenip::kernels {

namespace {
namespace norm_detail {

using cuda::group_allreduce;
using cuda::Pair;
using cuda::RowGroup;
using cuda::SumOp;

struct MaxOp {
  template <typename V>
  __device__ __forceinline__ V operator()(V x, V y) const { return x > y ? x : y; }
};

// Layer norm's row statistics when the row's sum or squares overflow T (|x| near T's largest
// value): those of x / max|x|, scaled back (layer norm is scale-free apart from eps), as the CPU
// kernel computes them. Every thread of the group calls it.
template <bool Warp, typename T>
__device__ void scaled_row_stats(const T* xr, int64_t C, const RowGroup<Warp>& g, T eps, T* buf, T& mean, T& rstd) {
  T m = T(0);
  for (int64_t i = g.lane; i < C; i += g.size) m = MaxOp{}(m, std::abs(xr[i]));
  const T a = group_allreduce<Warp>(m, MaxOp{}, buf);
  T s = T(0);
  for (int64_t i = g.lane; i < C; i += g.size) s += xr[i] / a;
  const T ms = group_allreduce<Warp>(s, SumOp{}, buf) / T(C);
  T ss = T(0);
  for (int64_t i = g.lane; i < C; i += g.size) ss += (xr[i] / a - ms) * (xr[i] / a - ms);
  const double v = double(group_allreduce<Warp>(ss, SumOp{}, buf) / T(C)), sd = double(a);
  mean = ms * a;
  // eps / a^2 underflows to 0 (a^2 may even overflow): a constant row keeps 1/sqrt(eps)
  rstd = T(v == 0 ? 1 / std::sqrt(double(eps)) : 1 / (std::sqrt(v + double(eps) / (sd * sd)) * sd));
}

// y = (x - mean) rstd w + b; mean and rstd per row. Rms: no mean, rstd from mean(x^2), no b.
template <bool Warp, bool Rms, typename T>
__global__ void norm_forward_kernel(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd, int64_t rows,
                                    int64_t C, T eps) {
  ONENIP_SHARED(T[32], buf);
  const RowGroup<Warp> g;
  for (int64_t r = g.first; r < rows; r += g.step) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    T mu = T(0);
    if constexpr (!Rms) {  // two passes: the mean, then squares about it (no cancellation)
      T s = T(0);
      for (int64_t i = g.lane; i < C; i += g.size) s += xr[i];
      mu = group_allreduce<Warp>(s, SumOp{}, buf) / T(C);
    }
    T ss = T(0);
    for (int64_t i = g.lane; i < C; i += g.size) ss += (xr[i] - mu) * (xr[i] - mu);
    const T var = group_allreduce<Warp>(ss, SumOp{}, buf) / T(C);
    T rs = T(1) / std::sqrt(var + eps);
    if (!Rms && !(std::isfinite(mu) && std::isfinite(var)))  // the same in the whole group: reduced values
      scaled_row_stats<Warp>(xr, C, g, eps, buf, mu, rs);
    if (g.lane == 0) {
      if constexpr (!Rms) mean[r] = mu;
      rstd[r] = rs;
    }
    for (int64_t i = g.lane; i < C; i += g.size) {
      T v = (xr[i] - mu) * rs;
      if (w) v *= w[i];
      if (b) v += b[i];
      yr[i] = v;
    }
  }
}

// dx per row, with xhat = (x - mean) rstd and gw = g w:
//   layer norm  dx = rstd (gw - mean(gw) - xhat mean(gw xhat))
//   rms norm    dx = rstd (gw - xhat mean(gw xhat))
template <bool Warp, bool Rms, typename T>
__global__ void norm_dx_kernel(const T* x, const T* w, const T* mean, const T* rstd, const T* g, T* dx,
                               int64_t rows, int64_t C) {
  using Sums = Pair<T, T>;
  ONENIP_SHARED(Sums[32], buf);
  const RowGroup<Warp> grp;
  for (int64_t r = grp.first; r < rows; r += grp.step) {
    const int64_t off = r * C;
    const T mu = Rms ? T(0) : mean[r], rs = rstd[r];
    Pair<T, T> s{T(0), T(0)};  // sum(gw), sum(gw xhat)
    for (int64_t i = grp.lane; i < C; i += grp.size) {
      const T gw = w ? g[off + i] * w[i] : g[off + i];
      s.a += gw;
      s.b += gw * ((x[off + i] - mu) * rs);
    }
    s = group_allreduce<Warp>(s, cuda::Sum2Op{}, buf);
    const T m1 = Rms ? T(0) : s.a / T(C), m2 = s.b / T(C);
    for (int64_t i = grp.lane; i < C; i += grp.size) {
      const T gw = w ? g[off + i] * w[i] : g[off + i];
      dx[off + i] = rs * (gw - m1 - ((x[off + i] - mu) * rs) * m2);
    }
  }
}

// dw_part [parts, C] = sum of g xhat and db_part = sum of g over each part's part_rows rows, in
// row order; one thread per column (reads contiguous along C). Either output may be null.
template <bool Rms, typename T>
__global__ void norm_param_parts_kernel(const T* x, const T* mean, const T* rstd, const T* g, T* dw_part,
                                        T* db_part, int64_t rows, int64_t C, int64_t part_rows) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const int64_t part = blockIdx.y, r0 = part * part_rows, r1 = simt::min_of(rows, r0 + part_rows);
  T sw = T(0), sb = T(0);
  for (int64_t r = r0; r < r1; ++r) {
    const T gv = g[r * C + c];
    sw += gv * ((x[r * C + c] - (Rms ? T(0) : mean[r])) * rstd[r]);
    sb += gv;
  }
  if (dw_part) dw_part[part * C + c] = sw;
  if (db_part) db_part[part * C + c] = sb;
}

template <bool Rms, typename T>
void forward(const char* name, int64_t rows, int64_t C, double eps, const T* x, const T* w, const T* b, T* y, T* mean,
             T* rstd) {
  if (rows == 0) return;
  const bool warp = cuda::warp_rows(C);
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = "rows " + std::to_string(rows) + ", C " + std::to_string(C);
  cfg.grid = dim3(cuda::row_blocks(rows, warp));
  cfg.block = dim3(cuda::kRowThreads);
  if (warp) simt::launch(cfg, norm_forward_kernel<true, Rms, T>, x, w, b, y, mean, rstd, rows, C, T(eps));
  else simt::launch(cfg, norm_forward_kernel<false, Rms, T>, x, w, b, y, mean, rstd, rows, C, T(eps));
}

template <bool Rms, typename T>
void backward(const char* name, Device device, int64_t rows, int64_t C, const T* x, const T* w, const T* mean,
              const T* rstd, const T* g, T* dx, T* dw, T* db) {
  const std::string sizes = "rows " + std::to_string(rows) + ", C " + std::to_string(C);
  if (dx && rows > 0) {
    const bool warp = cuda::warp_rows(C);
    simt::LaunchConfig cfg;
    cfg.name = name;
    cfg.problem = sizes + ", dx";
    cfg.grid = dim3(cuda::row_blocks(rows, warp));
    cfg.block = dim3(cuda::kRowThreads);
    if (warp) simt::launch(cfg, norm_dx_kernel<true, Rms, T>, x, w, mean, rstd, g, dx, rows, C);
    else simt::launch(cfg, norm_dx_kernel<false, Rms, T>, x, w, mean, rstd, g, dx, rows, C);
  }
  if (!dw && !db) return;
  // Runs of rows fixed by the sizes alone; at most 8192 parts (the grid's y limit is 65535).
  const int64_t part_rows = simt::max_of<int64_t>(32, simt::ceil_div(rows, 8192));
  const int64_t parts = simt::max_of<int64_t>(1, simt::ceil_div(rows, part_rows));
  cuda::DeviceScratch<T> dw_part(dw ? size_t(parts * C) : 0), db_part(db ? size_t(parts * C) : 0);
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = sizes + ", parameter gradients in " + std::to_string(parts) + " parts";
  cfg.grid = dim3(unsigned(simt::ceil_div(C, 128)), unsigned(parts));
  cfg.block = dim3(128);
  simt::launch(cfg, norm_param_parts_kernel<Rms, T>, x, mean, rstd, g, dw_part.p, db_part.p, rows, C, part_rows);
  if (dw) CudaKernels::sum<T>(SumProblem<T>{device, 1, parts, C, dw_part.p, dw});
  if (db) CudaKernels::sum<T>(SumProblem<T>{device, 1, parts, C, db_part.p, db});
}

}  // namespace norm_detail
}  // namespace

template <typename T>
void CudaKernels::layer_norm(const LayerNormProblem<T>& p) {
  norm_detail::forward<false>("layer_norm", p.rows, p.C, p.eps, p.x, p.w, p.b, p.y, p.mean, p.rstd);
}

template <typename T>
void CudaKernels::layer_norm_backward(const LayerNormBackwardProblem<T>& p) {
  norm_detail::backward<false>("layer_norm_backward", p.device, p.rows, p.C, p.x, p.w, p.mean, p.rstd, p.g, p.dx,
                               p.dw, p.db);
}

template <typename T>
void CudaKernels::rms_norm(const RMSNormProblem<T>& p) {
  norm_detail::forward<true>("rms_norm", p.rows, p.C, p.eps, p.x, p.w, static_cast<const T*>(nullptr), p.y,
                             static_cast<T*>(nullptr), p.rstd);
}

template <typename T>
void CudaKernels::rms_norm_backward(const RMSNormBackwardProblem<T>& p) {
  norm_detail::backward<true>("rms_norm_backward", p.device, p.rows, p.C, p.x, p.w, static_cast<const T*>(nullptr),
                              p.rstd, p.g, p.dx, p.dw, static_cast<T*>(nullptr));
}

#define ONENIP_NORM_INSTANTIATE(T)                                                          \
  template void CudaKernels::layer_norm<T>(const LayerNormProblem<T>&);                    \
  template void CudaKernels::layer_norm_backward<T>(const LayerNormBackwardProblem<T>&);   \
  template void CudaKernels::rms_norm<T>(const RMSNormProblem<T>&);                        \
  template void CudaKernels::rms_norm_backward<T>(const RMSNormBackwardProblem<T>&);
ONENIP_NORM_INSTANTIATE(float)
ONENIP_NORM_INSTANTIATE(double)
#undef ONENIP_NORM_INSTANTIATE

}  // namespace onenip::kernels

// Batch norm on CUDA, forward (training statistics or the running ones) and backward. x, y, g
// [N, C, S] (S = spatial size). The per-channel sums run over M = N S values in fixed parts of
// the flat (n, s) range: a block folds one part of one channel into a pair of sums (fixed-tree
// block reduction), and one thread per channel adds that channel's parts in part order. No
// atomics: the same bits on every run, whatever the schedule.
#include <cmath>
#include <cstdint>
#include <string>

#include "block_reduce.cuh"
#include "grid_stride.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/norm.hpp"

namespace onenip::kernels {

namespace {
namespace batch_norm_detail {

using cuda::Pair;

constexpr unsigned kPartThreads = 256;

// How the M values of a channel are split into parts: fixed by the sizes alone.
struct Parts {
  int64_t len, count;
  explicit Parts(int64_t M) {
    len = simt::max_of<int64_t>(1024, simt::ceil_div(M, 256));  // ~256 parts at most
    count = simt::max_of<int64_t>(1, simt::ceil_div(M, len));
  }
};

// The terms a part sums, per element at offset i of channel c:
//   Moments   pass 1: (x, 0); pass 2 (centre given): ((x - mean)^2, 0)
//   GradSums  (g, g (x - mean))
template <typename T>
struct MomentTerm {
  const T* x;
  const T* centre;  // null in pass 1
  __device__ __forceinline__ Pair<T, T> operator()(int64_t c, int64_t i) const {
    if (!centre) return {x[i], T(0)};
    const T d = x[i] - centre[c];
    return {d * d, T(0)};
  }
};
template <typename T>
struct GradTerm {
  const T* x;
  const T* g;
  const T* mean;
  __device__ __forceinline__ Pair<T, T> operator()(int64_t c, int64_t i) const {
    return {g[i], g[i] * (x[i] - mean[c])};
  }
};

// parts_out [C, parts] = the sums of term over each part of each channel; block (part, c).
// Index: the type of the flat (n, s) position, 32-bit when M allows (cheaper division).
template <typename T, typename Index, typename Term>
__global__ void channel_parts_kernel(Term term, int64_t C, int64_t S, int64_t M, int64_t part_len,
                                     Pair<T, T>* parts_out) {
  using Sums = Pair<T, T>;
  ONENIP_SHARED(Sums[32], buf);
  const int64_t c = blockIdx.y, part = blockIdx.x;
  const Index m1 = Index(simt::min_of(M, (part + 1) * part_len)), s_len = Index(S);
  Sums s{T(0), T(0)};
  for (Index m = Index(part * part_len + threadIdx.x); m < m1; m += blockDim.x) {
    const Index n = m / s_len, sp = m - n * s_len;
    const Sums t = term(c, (n * C + c) * S + sp);
    s.a += t.a;
    s.b += t.b;
  }
  s = cuda::group_allreduce<false>(s, cuda::Sum2Op{}, buf);
  if (threadIdx.x == 0) parts_out[c * gridDim.x + part] = s;
}

// The sums of every channel's parts, in part order.
template <typename T>
__device__ __forceinline__ Pair<T, T> channel_total(const Pair<T, T>* parts, int64_t count, int64_t c) {
  Pair<T, T> s{T(0), T(0)};
  for (int64_t k = 0; k < count; ++k) {
    s.a += parts[c * count + k].a;
    s.b += parts[c * count + k].b;
  }
  return s;
}

template <typename T>
__global__ void mean_kernel(const Pair<T, T>* parts, int64_t count, int64_t C, int64_t M, T* mean) {
  for (int64_t c = cuda::flat_first(); c < C; c += cuda::flat_step()) mean[c] = channel_total(parts, count, c).a / T(M);
}

// rstd from the squared deviations; the running statistics (if any) move towards the batch's
// with PyTorch's rule: momentum, unbiased variance.
template <typename T>
__global__ void variance_kernel(const Pair<T, T>* parts, int64_t count, int64_t C, int64_t M, T eps, T momentum,
                                const T* mean, T* rstd, T* running_mean, int64_t rm_stride, T* running_var,
                                int64_t rv_stride) {
  for (int64_t c = cuda::flat_first(); c < C; c += cuda::flat_step()) {
    const T var = channel_total(parts, count, c).a / T(M);
    rstd[c] = T(1) / std::sqrt(var + eps);
    if (running_mean) {
      T& rm = running_mean[c * rm_stride];
      T& rv = running_var[c * rv_stride];
      rm = (T(1) - momentum) * rm + momentum * mean[c];
      rv = (T(1) - momentum) * rv + momentum * var * (T(M) / T(M - 1));
    }
  }
}

// Eval: the statistics are the running ones.
template <typename T>
__global__ void running_stats_kernel(int64_t C, T eps, const T* running_mean, int64_t rm_stride,
                                     const T* running_var, int64_t rv_stride, T* mean, T* rstd) {
  for (int64_t c = cuda::flat_first(); c < C; c += cuda::flat_step()) {
    mean[c] = running_mean[c * rm_stride];
    rstd[c] = T(1) / std::sqrt(running_var[c * rv_stride] + eps);
  }
}

// The forward as y = x scale_c + shift_c.
template <typename T>
__global__ void affine_coefficients_kernel(int64_t C, const T* w, const T* b, const T* mean, const T* rstd, T* scale,
                                           T* shift) {
  for (int64_t c = cuda::flat_first(); c < C; c += cuda::flat_step()) {
    const T s = rstd[c] * (w ? w[c] : T(1));
    scale[c] = s;
    shift[c] = (b ? b[c] : T(0)) - mean[c] * s;
  }
}

// The backward from the channel sums sg = sum(g), sgx = sum(g (x - mean)) rstd: dw = sgx,
// db = sg, and dx = w rstd (g - [train] (sg + xhat sgx) / M) written as A g + B x + K.
template <typename T>
__global__ void grad_coefficients_kernel(const Pair<T, T>* parts, int64_t count, int64_t C, int64_t M, bool training,
                                         const T* w, const T* mean, const T* rstd, T* dw, T* db, T* A, T* B, T* K) {
  for (int64_t c = cuda::flat_first(); c < C; c += cuda::flat_step()) {
    const Pair<T, T> s = channel_total(parts, count, c);
    const T sg = s.a, sgx = s.b * rstd[c];
    if (dw) dw[c] = sgx;
    if (db) db[c] = sg;
    if (A) {
      const T wr = (w ? w[c] : T(1)) * rstd[c];
      const T a = training ? sg / T(M) : T(0), bc = training ? sgx / T(M) : T(0);
      A[c] = wr;
      B[c] = -wr * rstd[c] * bc;
      K[c] = wr * (mean[c] * rstd[c] * bc - a);
    }
  }
}

// out = u a_c + v b_c + k_c over [N, C, S] (v, b null: no second term). Block row y strides over
// the N C planes, x over a plane's S values, so the channel needs no division per element.
template <typename T>
__global__ void channel_affine_kernel(const T* u, const T* a, const T* v, const T* b, const T* k, T* out, int64_t planes,
                                      int64_t C, int64_t S) {
  for (int64_t q = blockIdx.y; q < planes; q += gridDim.y) {
    const int64_t c = q % C;
    const T ac = a[c], bc = v ? b[c] : T(0), kc = k[c];
    for (int64_t s = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; s < S; s += int64_t(gridDim.x) * blockDim.x) {
      const int64_t i = q * S + s;
      out[i] = v ? u[i] * ac + v[i] * bc + kc : u[i] * ac + kc;
    }
  }
}

std::string sizes(int64_t N, int64_t C, int64_t S) {
  return "N " + std::to_string(N) + ", C " + std::to_string(C) + ", S " + std::to_string(S);
}

// parts [C, count] of term's sums.
template <typename T, typename Term>
void channel_parts(const char* name, const std::string& what, const Term& term, int64_t N, int64_t C, int64_t S,
                   const Parts& parts, Pair<T, T>* out) {
  ONENIP_CHECK(C <= 65535, name, ": ", C, " channels exceed the grid's y limit of 65535 (", sizes(N, C, S), ")");
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = sizes(N, C, S) + ", " + what + " in " + std::to_string(parts.count) + " parts";
  cfg.grid = dim3(unsigned(parts.count), unsigned(C));
  cfg.block = dim3(kPartThreads);
  if (N * S <= int64_t(UINT32_MAX) - kPartThreads)
    simt::launch(cfg, channel_parts_kernel<T, uint32_t, Term>, term, C, S, N * S, parts.len, out);
  else simt::launch(cfg, channel_parts_kernel<T, int64_t, Term>, term, C, S, N * S, parts.len, out);
}

template <typename T>
void channel_affine(const char* name, const T* u, const T* a, const T* v, const T* b, const T* k, T* out, int64_t N,
                    int64_t C, int64_t S) {
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = sizes(N, C, S);
  cfg.grid = dim3(unsigned(simt::min_of<int64_t>(simt::ceil_div(S, cuda::kFlatThreads), 64)),
                  unsigned(simt::min_of<int64_t>(N * C, 65535)));
  cfg.block = dim3(cuda::kFlatThreads);
  simt::launch(cfg, channel_affine_kernel<T>, u, a, v, b, k, out, N * C, C, S);
}

}  // namespace batch_norm_detail
}  // namespace

template <typename T>
void CudaKernels::batch_norm(const BatchNormProblem<T>& p) {
  using namespace batch_norm_detail;
  const int64_t M = p.N * p.S;
  if (p.C == 0) return;
  const auto per_channel = [&](const char* what) { return cuda::flat_launch("batch_norm", p.C, sizes(p.N, p.C, p.S) + ", " + what); };
  if (p.training) {
    const Parts parts(M);
    cuda::DeviceScratch<Pair<T, T>> sums(size_t(p.C * parts.count));
    channel_parts<T>("batch_norm", "sums", MomentTerm<T>{p.x, nullptr}, p.N, p.C, p.S, parts, sums.p);
    simt::launch(per_channel("mean"), mean_kernel<T>, sums.p, parts.count, p.C, M, p.mean);
    channel_parts<T>("batch_norm", "squared deviations", MomentTerm<T>{p.x, p.mean}, p.N, p.C, p.S, parts, sums.p);
    simt::launch(per_channel("variance"), variance_kernel<T>, sums.p, parts.count, p.C, M, T(p.eps), T(p.momentum),
                 static_cast<const T*>(p.mean), p.rstd, p.running_mean, p.running_mean_stride, p.running_var,
                 p.running_var_stride);
  } else {
    simt::launch(per_channel("running statistics"), running_stats_kernel<T>, p.C, T(p.eps),
                 static_cast<const T*>(p.running_mean), p.running_mean_stride, static_cast<const T*>(p.running_var),
                 p.running_var_stride, p.mean, p.rstd);
  }
  if (M == 0) return;
  cuda::DeviceScratch<T> scale(size_t(p.C)), shift(size_t(p.C));
  simt::launch(per_channel("scale and shift"), affine_coefficients_kernel<T>, p.C, p.w, p.b,
               static_cast<const T*>(p.mean), static_cast<const T*>(p.rstd), scale.p, shift.p);
  channel_affine<T>("batch_norm", p.x, scale.p, nullptr, nullptr, shift.p, p.y, p.N, p.C, p.S);
}

template <typename T>
void CudaKernels::batch_norm_backward(const BatchNormBackwardProblem<T>& p) {
  using namespace batch_norm_detail;
  const int64_t M = p.N * p.S;
  if (p.C == 0) return;
  const Parts parts(M);
  cuda::DeviceScratch<Pair<T, T>> sums(size_t(p.C * parts.count));
  channel_parts<T>("batch_norm_backward", "gradient sums", GradTerm<T>{p.x, p.g, p.mean}, p.N, p.C, p.S, parts,
                   sums.p);
  const size_t coef = p.dx ? size_t(p.C) : 0;
  cuda::DeviceScratch<T> A(coef), B(coef), K(coef);
  simt::launch(cuda::flat_launch("batch_norm_backward", p.C, sizes(p.N, p.C, p.S) + ", coefficients"),
               grad_coefficients_kernel<T>, static_cast<const Pair<T, T>*>(sums.p), parts.count, p.C, M, p.training,
               p.w, p.mean, p.rstd, p.dw, p.db, A.p, B.p, K.p);
  if (p.dx && M > 0)
    channel_affine<T>("batch_norm_backward", p.g, A.p, p.x, B.p, K.p, p.dx, p.N, p.C, p.S);
}

#define ONENIP_BATCH_NORM_INSTANTIATE(T)                                           \
  template void CudaKernels::batch_norm<T>(const BatchNormProblem<T>&);           \
  template void CudaKernels::batch_norm_backward<T>(const BatchNormBackwardProblem<T>&);
ONENIP_BATCH_NORM_INSTANTIATE(float)
ONENIP_BATCH_NORM_INSTANTIATE(double)
#undef ONENIP_BATCH_NORM_INSTANTIATE

}  // namespace onenip::kernels

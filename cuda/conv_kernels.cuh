// The convolution kernels cuda/conv.cu and cuda/fused_conv.cu share, on contiguous NCHW buffers.
//
// conv_gemm_kernel: conv2d's three passes as implicit GEMMs, per group, the column matrix never
// stored: each 16-deep slice of the operands is gathered from x, w or y straight into shared
// memory (zero where a tap reads padding or a stride skips a pixel), then multiplied like the
// exact GEMM (64x64 tiles of the output, or 16x256 for few rows; 256 threads, each a register tile):
//   Forward     y[n, o, p]   = sum over (c, ki, kj) of w[o, c, ki, kj] x̂[(c, ki, kj), (n, p)]
//               rows o, columns (n, p), then + bias, activation, + residual (the fused epilogue)
//   GradInput   gx[n, c, q]  = sum over (o, ki, kj) of w[o, c, ki, kj] gy at the output pixel tap
//               (ki, kj) reads input pixel q from (none: 0); rows c, columns (n, q); a gather, so
//               no two threads write one element (no atomics), then + bias (conv_transpose2d)
//   GradWeight  gw[o, (c, ki, kj)] = sum over (n, p) of gy[n, o, p] x̂[(c, ki, kj), (n, p)];
//               the N*P-long sum is split into fixed runs (blockIdx.z), each written to its own
//               slice of scratch, then summed over runs in order: the same bits on every run.
//               A weight too small for a tile gets a block per element instead (weight_grad_dot_kernel).
// x̂ is the im2col matrix of x. Every output element is summed by one thread in a fixed order.
//
// Depthwise convs (groups == C == O) waste a GEMM (one row per group), so they get direct
// kernels: forward and input gradient a block per (n, c) plane, a thread per pixel gathering over
// the taps; weight gradient a block per (tap, channel), a fixed-tree block sum over N*P.
#pragma once

#include <cmath>
#include <string>

#include "block_reduce.cuh"
#include "onenip/kernels/problems/fused_conv.hpp"
#include "runtime.cuh"

namespace onenip::kernels::conv_cuda {

enum class ConvPass { Forward, GradInput, GradWeight };

// The backbones' activations, as kernels/cpu/fused_conv.hpp computes them.
template <typename T>
__device__ __forceinline__ T activate(T v, Activation act) {
  if (act == Activation::ReLU6) return simt::min_of(simt::max_of(v, T(0)), T(6));
  if (act == Activation::Swish) return v / (T(1) + std::exp(-v));
  return v;
}

// One pass as the GEMM kernel reads it (passed by value). Per group: out[rows, cols] = sum over
// `depth` of A[rows, depth] B[depth, cols], the operands gathered as the header comment says.
template <typename T>
struct ConvGemmArgs {
  ConvGeom g;
  const T* x = nullptr;         // [N, C, H, W]
  const T* w = nullptr;         // [O, C/groups, kh, kw]
  const T* y = nullptr;         // [N, O, Ho, Wo]
  T* out = nullptr;             // what the pass writes (GradWeight: [parts, O, K] when parts > 1)
  const T* bias = nullptr;      // Forward: [O]; GradInput: [C]; or null
  const T* residual = nullptr;  // Forward: [N, O, Ho, Wo] added after the activation, or null
  Activation act = Activation::None;
  int64_t rows = 0, cols = 0, depth = 0;
  int64_t part_len = 0, parts = 1;  // the depth in runs of part_len; blockIdx.z = group * parts + part
};

// Row k = (c, ki, kj) of group grp's column matrix at column col = (n, oh, ow): the x element the
// tap reads, 0 on padding.
template <typename T>
__device__ __forceinline__ T im2col_at(const ConvGeom& g, const T* x, int64_t grp, int64_t k, int64_t col) {
  const int64_t taps = g.kh * g.kw, P = g.Ho * g.Wo;
  const int64_t c = k / taps, ki = k % taps / g.kw, kj = k % g.kw;
  const int64_t n = col / P, oh = col % P / g.Wo, ow = col % g.Wo;
  const int64_t ih = oh * g.sh + ki * g.dh - g.pt, iw = ow * g.sw + kj * g.dw - g.pl;
  if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) return T(0);
  return x[((n * g.C + grp * (g.C / g.groups) + c) * g.H + ih) * g.W + iw];
}

// Row r = (o, ki, kj) at input pixel col = (n, ih, iw): the y element whose tap (ki, kj) reads
// that pixel, 0 when the tap lands between strides or outside the output.
template <typename T>
__device__ __forceinline__ T tap_source_at(const ConvGeom& g, const T* y, int64_t grp, int64_t r, int64_t col) {
  const int64_t taps = g.kh * g.kw, HW = g.H * g.W;
  const int64_t o = r / taps, ki = r % taps / g.kw, kj = r % g.kw;
  const int64_t n = col / HW, ih = col % HW / g.W, iw = col % g.W;
  const int64_t th = ih + g.pt - ki * g.dh, tw = iw + g.pl - kj * g.dw;
  if (th < 0 || tw < 0 || th % g.sh != 0 || tw % g.sw != 0) return T(0);
  const int64_t oh = th / g.sh, ow = tw / g.sw;
  if (oh >= g.Ho || ow >= g.Wo) return T(0);
  return y[((n * g.O + grp * (g.O / g.groups) + o) * g.Ho + oh) * g.Wo + ow];
}

template <ConvPass Pass, typename T>
__device__ __forceinline__ T operand_a(const ConvGemmArgs<T>& a, int64_t grp, int64_t m, int64_t r) {
  const ConvGeom& g = a.g;
  const int64_t Og = g.O / g.groups, Cg = g.C / g.groups, taps = g.kh * g.kw;
  if constexpr (Pass == ConvPass::Forward) return a.w[(grp * Og + m) * a.depth + r];
  else if constexpr (Pass == ConvPass::GradInput) return a.w[((grp * Og + r / taps) * Cg + m) * taps + r % taps];
  else {
    const int64_t P = g.Ho * g.Wo;
    return a.y[(r / P * g.O + grp * Og + m) * P + r % P];
  }
}

template <ConvPass Pass, typename T>
__device__ __forceinline__ T operand_b(const ConvGemmArgs<T>& a, int64_t grp, int64_t r, int64_t j) {
  if constexpr (Pass == ConvPass::Forward) return im2col_at(a.g, a.x, grp, r, j);
  else if constexpr (Pass == ConvPass::GradInput) return tap_source_at(a.g, a.y, grp, r, j);
  else return im2col_at(a.g, a.x, grp, j, r);
}

// The sum s of element (m, j) of group grp (run `part`) written where the pass puts it.
template <ConvPass Pass, typename T>
__device__ __forceinline__ void store(const ConvGemmArgs<T>& a, int64_t grp, int64_t part, int64_t m, int64_t j, T s) {
  const ConvGeom& g = a.g;
  if constexpr (Pass == ConvPass::Forward) {
    const int64_t P = g.Ho * g.Wo, o = grp * (g.O / g.groups) + m, at = (j / P * g.O + o) * P + j % P;
    T v = activate(a.bias ? s + a.bias[o] : s, a.act);
    if (a.residual) v += a.residual[at];
    a.out[at] = v;
  } else if constexpr (Pass == ConvPass::GradInput) {
    const int64_t HW = g.H * g.W, c = grp * (g.C / g.groups) + m;
    a.out[(j / HW * g.C + c) * HW + j % HW] = a.bias ? s + a.bias[c] : s;
  } else {
    a.out[(part * g.O + grp * (g.O / g.groups) + m) * a.cols + j] = s;
  }
}

constexpr int kSlice = 16, kGemmThreads = 256;

// Tiles of the output: 64x64, or 16x256 when a group has at most 16 rows (a pointwise conv to few
// channels, the stem's input gradient), where a square tile would compute mostly padding.
// Thread (ty, tx) of 16x16 owns rows ty + 16 i and columns tx + 16 j of the block's tile.
template <ConvPass Pass, typename T, int TileM, int TileN>
__global__ void __launch_bounds__(kGemmThreads) conv_gemm_kernel(ConvGemmArgs<T> a) {
  constexpr int RegM = TileM / 16, RegN = TileN / 16;
  ONENIP_SHARED(T[kSlice][TileM + 4], as);  // as[r][m]
  ONENIP_SHARED(T[kSlice][TileN + 4], bs);  // bs[r][j]
  const int tid = int(threadIdx.x), ty = tid / 16, tx = tid % 16;
  const int64_t j0 = int64_t(blockIdx.x) * TileN, m0 = int64_t(blockIdx.y) * TileM;
  const int64_t grp = blockIdx.z / a.parts, part = blockIdx.z % a.parts;
  const int64_t r_begin = part * a.part_len, r_end = simt::min_of(a.depth, r_begin + a.part_len);
  T acc[RegM][RegN] = {};
  for (int64_t r0 = r_begin; r0 < r_end; r0 += kSlice) {
    // A's rows are contiguous along r in every pass; B's along j, except GradWeight's (along r).
    for (int e = tid; e < TileM * kSlice; e += kGemmThreads) {
      const int i = e / kSlice, k = e % kSlice;
      as[k][i] = m0 + i < a.rows && r0 + k < r_end ? operand_a<Pass>(a, grp, m0 + i, r0 + k) : T(0);
    }
    for (int e = tid; e < TileN * kSlice; e += kGemmThreads) {
      const bool j_fast = Pass != ConvPass::GradWeight;
      const int k = j_fast ? e / TileN : e % kSlice, j = j_fast ? e % TileN : e / kSlice;
      bs[k][j] = j0 + j < a.cols && r0 + k < r_end ? operand_b<Pass>(a, grp, r0 + k, j0 + j) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kSlice; ++k) {
      T av[RegM], bv[RegN];
#pragma unroll
      for (int i = 0; i < RegM; ++i) av[i] = as[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < RegN; ++j) bv[j] = bs[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < RegM; ++i)
#pragma unroll
        for (int j = 0; j < RegN; ++j) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < RegM; ++i)
    for (int j = 0; j < RegN; ++j) {
      const int64_t m = m0 + ty + 16 * i, col = j0 + tx + 16 * j;
      if (m < a.rows && col < a.cols) store<Pass>(a, grp, part, m, col, acc[i][j]);
    }
}

template <ConvPass Pass, int TileM, int TileN, typename T>
void launch_conv_gemm_tiles(const char* name, const ConvGemmArgs<T>& a) {
  const int64_t col_tiles = simt::ceil_div(a.cols, TileN), row_tiles = simt::ceil_div(a.rows, TileM);
  const int64_t z = a.g.groups * a.parts;
  ONENIP_CHECK(col_tiles < (int64_t(1) << 31) && row_tiles <= 65535 && z <= 65535, name,
               ": the GEMM grid is too large: ", col_tiles, " x ", row_tiles, " x ", z);
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = "rows " + std::to_string(a.rows) + ", cols " + std::to_string(a.cols) + ", depth " +
                std::to_string(a.depth) + ", groups " + std::to_string(a.g.groups) + ", parts " +
                std::to_string(a.parts) + ", tile " + std::to_string(TileM) + "x" + std::to_string(TileN);
  cfg.grid = dim3(unsigned(col_tiles), unsigned(row_tiles), unsigned(z));
  cfg.block = dim3(kGemmThreads);
  simt::launch(cfg, conv_gemm_kernel<Pass, T, TileM, TileN>, a);
}

template <ConvPass Pass, typename T>
void launch_conv_gemm(const char* name, const ConvGemmArgs<T>& a) {
  if (a.rows <= 16) launch_conv_gemm_tiles<Pass, 16, 256>(name, a);
  else launch_conv_gemm_tiles<Pass, 64, 64>(name, a);
}

// GradWeight of a small weight (at most kDotMaxWeights elements per group): a tile would compute
// mostly padding, so each weight element gets a block that sums its whole N*P-long dot product,
// each thread a strided share in order, then a fixed-tree block sum. blockIdx.x = element, y = group.
constexpr int64_t kDotMaxWeights = 256;

template <typename T>
__global__ void weight_grad_dot_kernel(ConvGemmArgs<T> a) {
  ONENIP_SHARED(T[32], buf);
  const int64_t grp = blockIdx.y, m = blockIdx.x / a.cols, j = blockIdx.x % a.cols;
  T s = T(0);
  for (int64_t r = threadIdx.x; r < a.depth; r += blockDim.x)
    s += operand_a<ConvPass::GradWeight>(a, grp, m, r) * operand_b<ConvPass::GradWeight>(a, grp, r, j);
  s = cuda::group_allreduce<false>(s, cuda::SumOp{}, buf);
  if (threadIdx.x == 0) store<ConvPass::GradWeight>(a, grp, int64_t(0), m, j, s);
}

// ---- depthwise ----
constexpr unsigned kPlaneThreads = 256;
inline unsigned plane_blocks(int64_t planes) { return unsigned(simt::min_of<int64_t>(planes, 65535)); }

// y[n, c] = act(w[c] ⋆ x[n, c] + bias[c]); means[n * C + c] (when given) = the mean of that
// output plane, a fixed-tree block sum. A block per plane, a thread per output pixel.
template <typename T>
__global__ void depthwise_forward_kernel(ConvGeom g, const T* x, const T* w, const T* bias, Activation act, T* y,
                                         T* means) {
  ONENIP_SHARED(T[32], buf);
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, planes = g.N * g.C;
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const int64_t c = plane % g.C;
    const T* xp = x + plane * HW;
    const T* wc = w + c * g.kh * g.kw;
    T sum = T(0);
    for (int64_t p = threadIdx.x; p < P; p += blockDim.x) {
      const int64_t oh = p / g.Wo, ow = p % g.Wo;
      T v = T(0);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t ih = oh * g.sh + ki * g.dh - g.pt;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const int64_t iw = ow * g.sw + kj * g.dw - g.pl;
          if (iw >= 0 && iw < g.W) v += wc[ki * g.kw + kj] * xp[ih * g.W + iw];
        }
      }
      v = activate(bias ? v + bias[c] : v, act);
      y[plane * P + p] = v;
      sum += v;
    }
    if (means) {  // the same for the whole block: the barriers inside are reached by every thread
      const T total = cuda::group_allreduce<false>(sum, cuda::SumOp{}, buf);
      if (threadIdx.x == 0) means[plane] = total / T(P);
    }
  }
}

// gx[n, c] (+ bias[c]) = the input gradient: each input pixel gathers over the taps that read it.
template <typename T>
__global__ void depthwise_grad_input_kernel(ConvGeom g, const T* gy, const T* w, const T* bias, T* gx) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, planes = g.N * g.C;
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const int64_t c = plane % g.C;
    const T* gp = gy + plane * P;
    const T* wc = w + c * g.kh * g.kw;
    for (int64_t q = threadIdx.x; q < HW; q += blockDim.x) {
      const int64_t ih = q / g.W, iw = q % g.W;
      T v = T(0);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t th = ih + g.pt - ki * g.dh;
        if (th < 0 || th % g.sh != 0 || th / g.sh >= g.Ho) continue;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const int64_t tw = iw + g.pl - kj * g.dw;
          if (tw >= 0 && tw % g.sw == 0 && tw / g.sw < g.Wo) v += wc[ki * g.kw + kj] * gp[th / g.sh * g.Wo + tw / g.sw];
        }
      }
      gx[plane * HW + q] = bias ? v + bias[c] : v;
    }
  }
}

// gw[c, tap] = sum over n and output pixels of gy x at the pixel the tap reads; a block per (tap, c).
template <typename T>
__global__ void depthwise_grad_weight_kernel(ConvGeom g, const T* x, const T* gy, T* gw) {
  ONENIP_SHARED(T[32], buf);
  const int64_t taps = g.kh * g.kw, tap = blockIdx.x, c = blockIdx.y, ki = tap / g.kw, kj = tap % g.kw;
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W;
  T s = T(0);
  for (int64_t r = threadIdx.x; r < g.N * P; r += blockDim.x) {
    const int64_t n = r / P, oh = r % P / g.Wo, ow = r % g.Wo;
    const int64_t ih = oh * g.sh + ki * g.dh - g.pt, iw = ow * g.sw + kj * g.dw - g.pl;
    if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
      s += gy[(n * g.C + c) * P + oh * g.Wo + ow] * x[(n * g.C + c) * HW + ih * g.W + iw];
  }
  s = cuda::group_allreduce<false>(s, cuda::SumOp{}, buf);
  if (threadIdx.x == 0) gw[c * taps + tap] = s;
}

inline simt::LaunchConfig plane_launch(const char* name, const ConvGeom& g, unsigned blocks) {
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.problem = "N " + std::to_string(g.N) + ", C " + std::to_string(g.C) + ", " + std::to_string(g.H) + "x" +
                std::to_string(g.W) + " -> " + std::to_string(g.Ho) + "x" + std::to_string(g.Wo) + ", kernel " +
                std::to_string(g.kh) + "x" + std::to_string(g.kw);
  cfg.grid = dim3(blocks);
  cfg.block = dim3(kPlaneThreads);
  return cfg;
}

template <typename T>
void depthwise_forward(const char* name, const ConvGeom& g, const T* x, const T* w, const T* bias, Activation act,
                       T* y, T* means) {
  simt::launch(plane_launch(name, g, plane_blocks(g.N * g.C)), depthwise_forward_kernel<T>, g, x, w, bias, act, y,
               means);
}

}  // namespace onenip::kernels::conv_cuda

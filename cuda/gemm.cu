// GEMM on CUDA: C (= or +=, or = bias +) A @ B for every GemmProblem (kernels/problems/gemm.hpp).
//
// Two kernels, both over 64x64 tiles of C, one block per tile (and per product of a batch),
// stepping through K in 16-deep slices staged in shared memory (the next slice is fetched into
// registers while the current one is multiplied):
//   - gemm_simt (float, double, exact): 256 threads, each a 4x4 register tile of C;
//   - gemm_tensor_core (float with MathPrecision TF32 or BF16): 4 warps, each a 32x32 part of
//     the tile as 2x2 tensor-core tiles of 16x16 (cuda/mma.cuh); A and B are rounded once, when
//     staged, and the products summed in FP32.
// Both are deterministic: no atomics, every element of C summed by one thread (or one warp) in
// a fixed k order. Operands are read through their strides, so transposed views cost no copy;
// elements outside M, N, K are staged as zeros, so any size works.
#include <string>
#include <type_traits>

#include "mma.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/gemm.hpp"
#include "runtime.cuh"

namespace onenip::kernels {

namespace {

namespace mma = ::onenip::cuda::mma;

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;
constexpr int kMaxBatchDims = 8;
constexpr unsigned kMaxGridYZ = 65535;

// The problem as the kernels read it (passed by value).
template <typename T>
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const T* a = nullptr;
  int64_t a_rs = 0, a_cs = 1;
  const T* b = nullptr;
  int64_t b_rs = 0, b_cs = 1;
  T* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
  const T* bias = nullptr;
  // Batch: product z reads A and B at sum_d coord_d(z) stride_d and writes C at z c_stride.
  int64_t batches = 1, c_stride = 0;
  int batch_dims = 0;
  int64_t batch_size[kMaxBatchDims], a_stride[kMaxBatchDims], b_stride[kMaxBatchDims];
};

template <typename T>
__device__ __forceinline__ void batch_operands(const GemmArgs<T>& g, int64_t z, const T*& a, const T*& b, T*& c) {
  int64_t ao = 0, bo = 0, rem = z;
  for (int d = g.batch_dims - 1; d >= 0; --d) {
    const int64_t i = rem % g.batch_size[d];
    rem /= g.batch_size[d];
    ao += i * g.a_stride[d], bo += i * g.b_stride[d];
  }
  a = g.a + ao, b = g.b + bo, c = g.c + z * g.c_stride;
}

// Element e (< kTileM * kTileK) of the A slice at (m0, k0) as (i, k) within it: consecutive
// threads walk the unit-stride direction, so the global reads coalesce.
__device__ __forceinline__ void a_slot(bool k_fast, int e, int& i, int& k) {
  if (k_fast) i = e / kTileK, k = e % kTileK;
  else i = e % kTileM, k = e / kTileM;
}
// Likewise (k, j) in the B slice.
__device__ __forceinline__ void b_slot(bool n_fast, int e, int& k, int& j) {
  if (n_fast) k = e / kTileN, j = e % kTileN;
  else k = e % kTileK, j = e / kTileK;
}

template <typename T>
__device__ __forceinline__ T load_or_zero(const T* p, int64_t r, int64_t cidx, int64_t rows, int64_t cols, int64_t rs,
                                          int64_t cs) {
  return (r < rows && cidx < cols) ? p[r * rs + cidx * cs] : T(0);
}

// C's element from the product's sum: bias + s, c + s (accumulate) or s.
template <typename T>
__device__ __forceinline__ void write_c(const GemmArgs<T>& g, T* c, int64_t m, int64_t n, T s) {
  T* p = c + m * g.ldc + n;
  if (g.bias) *p = g.bias[n] + s;
  else if (g.accumulate) *p = *p + s;
  else *p = s;
}

// One K slice of the block's A and B tiles in registers, kThreads threads each holding its
// share: the next slice is fetched from global memory while the current one is multiplied.
template <typename T, int kThreads>
struct Slice {
  static constexpr int kA = kTileM * kTileK / kThreads, kB = kTileK * kTileN / kThreads;
  T a[kA], b[kB];

  __device__ __forceinline__ void fetch(const GemmArgs<T>& g, const T* A, const T* B, int64_t m0, int64_t n0,
                                        int64_t k0, int tid) {
    for (int r = 0; r < kA; ++r) {
      int i, k;
      a_slot(g.a_cs == 1, tid + r * kThreads, i, k);
      a[r] = load_or_zero(A, m0 + i, k0 + k, g.M, g.K, g.a_rs, g.a_cs);
    }
    for (int r = 0; r < kB; ++r) {
      int k, j;
      b_slot(g.b_cs == 1, tid + r * kThreads, k, j);
      b[r] = load_or_zero(B, k0 + k, n0 + j, g.K, g.N, g.b_rs, g.b_cs);
    }
  }
};

// ---- exact math: 256 threads as 16x16, thread (ty, tx) owns rows ty + 16 i and cols tx + 16 j ----
constexpr int kSimtThreads = 256, kSimtReg = 4;

template <typename T>
__global__ void __launch_bounds__(kSimtThreads) gemm_simt(GemmArgs<T> g) {
  ONENIP_SHARED(T[kTileK][kTileM + 4], as);  // A slice k-major: a thread's rows side by side
  ONENIP_SHARED(T[kTileK][kTileN + 4], bs);
  const int tid = int(threadIdx.x), ty = tid / 16, tx = tid % 16;
  const bool a_k_fast = g.a_cs == 1, b_n_fast = g.b_cs == 1;
  Slice<T, kSimtThreads> next;
  const int64_t tiles_m = (g.M + kTileM - 1) / kTileM;
  const int64_t n0 = int64_t(blockIdx.x) * kTileN;
  for (int64_t z = blockIdx.z; z < g.batches; z += gridDim.z) {
    const T *a, *b;
    T* c;
    batch_operands(g, z, a, b, c);
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
      const int64_t m0 = tm * kTileM;
      T acc[kSimtReg][kSimtReg];
      for (int i = 0; i < kSimtReg; ++i)
        for (int j = 0; j < kSimtReg; ++j) acc[i][j] = T(0);
      if (g.K > 0) next.fetch(g, a, b, m0, n0, 0, tid);
      for (int64_t k0 = 0; k0 < g.K; k0 += kTileK) {
        for (int r = 0; r < next.kA; ++r) {
          int i, k;
          a_slot(a_k_fast, tid + r * kSimtThreads, i, k);
          as[k][i] = next.a[r];
        }
        for (int r = 0; r < next.kB; ++r) {
          int k, j;
          b_slot(b_n_fast, tid + r * kSimtThreads, k, j);
          bs[k][j] = next.b[r];
        }
        __syncthreads();
        if (k0 + kTileK < g.K) next.fetch(g, a, b, m0, n0, k0 + kTileK, tid);
#pragma unroll
        for (int k = 0; k < kTileK; ++k) {
          T ar[kSimtReg], br[kSimtReg];
          for (int i = 0; i < kSimtReg; ++i) ar[i] = as[k][ty + 16 * i];
          for (int j = 0; j < kSimtReg; ++j) br[j] = bs[k][tx + 16 * j];
          for (int i = 0; i < kSimtReg; ++i)
            for (int j = 0; j < kSimtReg; ++j) acc[i][j] += ar[i] * br[j];
        }
        __syncthreads();  // the slice is overwritten next
      }
      for (int i = 0; i < kSimtReg; ++i)
        for (int j = 0; j < kSimtReg; ++j) {
          const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
          if (m < g.M && n < g.N) write_c(g, c, m, n, acc[i][j]);
        }
    }
  }
}

// ---- tensor cores: 4 warps as 2x2, warp (wm, wn) owns rows wm*32.. and cols wn*32.. ----
constexpr int kTcThreads = 128;

template <mma::Precision P>
struct TcShared {
  // Leading dimensions padded by 16 bytes (wmma wants multiples of 16 bytes; the pad spreads
  // rows over banks); every array starts 32-byte aligned, as load/store_matrix_sync require.
  static constexpr int kPad = 16 / int(sizeof(mma::input_t<P>));
  static constexpr int kLda = kTileK + kPad, kLdb = kTileN + kPad, kLdc = kTileN + 4;
  alignas(32) mma::input_t<P> a[kTileM][kLda];
  alignas(32) mma::input_t<P> b[kTileK][kLdb];
  alignas(32) float c[kTileM][kLdc];
};

template <mma::Precision P>
__global__ void __launch_bounds__(kTcThreads) gemm_tensor_core(GemmArgs<float> g) {
  using S = TcShared<P>;
  ONENIP_SHARED(S, s);
  constexpr int kK = mma::kK<P>;
  const int tid = int(threadIdx.x), warp = tid / 32, wm = warp / 2, wn = warp % 2;
  const bool a_k_fast = g.a_cs == 1, b_n_fast = g.b_cs == 1;
  Slice<float, kTcThreads> next;
  const int64_t tiles_m = (g.M + kTileM - 1) / kTileM;
  const int64_t n0 = int64_t(blockIdx.x) * kTileN;
  for (int64_t z = blockIdx.z; z < g.batches; z += gridDim.z) {
    const float *a, *b;
    float* c;
    batch_operands(g, z, a, b, c);
    for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y) {
      const int64_t m0 = tm * kTileM;
      typename mma::Tile<P>::C acc[2][2];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) mma::fill(acc[i][j], 0.f);
      if (g.K > 0) next.fetch(g, a, b, m0, n0, 0, tid);
      for (int64_t k0 = 0; k0 < g.K; k0 += kTileK) {
        for (int r = 0; r < next.kA; ++r) {
          int i, k;
          a_slot(a_k_fast, tid + r * kTcThreads, i, k);
          s.a[i][k] = mma::to_input<P>(next.a[r]);
        }
        for (int r = 0; r < next.kB; ++r) {
          int k, j;
          b_slot(b_n_fast, tid + r * kTcThreads, k, j);
          s.b[k][j] = mma::to_input<P>(next.b[r]);
        }
        __syncthreads();
        if (k0 + kTileK < g.K) next.fetch(g, a, b, m0, n0, k0 + kTileK, tid);
        for (int kk = 0; kk < kTileK; kk += kK) {
          typename mma::Tile<P>::A fa[2];
          typename mma::Tile<P>::B fb[2];
          for (int i = 0; i < 2; ++i) mma::load_a<P>(fa[i], &s.a[wm * 32 + i * 16][kk], S::kLda);
          for (int j = 0; j < 2; ++j) mma::load_b<P>(fb[j], &s.b[kk][wn * 32 + j * 16], S::kLdb);
          for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) mma::mma<P>(acc[i][j], fa[i], fb[j]);
        }
        __syncthreads();
      }
      // Through shared memory to C: fragment layouts stay opaque, and the writes coalesce.
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) mma::store(&s.c[wm * 32 + i * 16][wn * 32 + j * 16], acc[i][j], S::kLdc);
      __syncthreads();
      for (int e = tid; e < kTileM * kTileN; e += kTcThreads) {
        const int i = e / kTileN, j = e % kTileN;
        const int64_t m = m0 + i, n = n0 + j;
        if (m < g.M && n < g.N) write_c(g, c, m, n, s.c[i][j]);
      }
      __syncthreads();  // s.c is written again by the next tile
    }
  }
}

}  // namespace

template <typename T>
void CudaKernels::gemm(const GemmProblem<T>& p) {
  GemmArgs<T> g;
  g.M = p.M, g.N = p.N, g.K = p.K;
  g.a = p.a, g.a_rs = p.a_rs, g.a_cs = p.a_cs;
  g.b = p.b, g.b_rs = p.b_rs, g.b_cs = p.b_cs;
  g.c = p.c, g.ldc = p.ldc, g.accumulate = p.accumulate, g.bias = p.bias_row;
  g.batches = numel_of(p.batch), g.c_stride = p.c_batch_stride;
  ONENIP_CHECK(p.batch.size() <= size_t(kMaxBatchDims), "gemm (cuda): ", p.batch.size(), " batch dims (at most ",
               kMaxBatchDims, ")");
  g.batch_dims = int(p.batch.size());
  for (size_t d = 0; d < p.batch.size(); ++d)
    g.batch_size[d] = p.batch[d], g.a_stride[d] = p.a_batch_strides[d], g.b_stride[d] = p.b_batch_strides[d];
  if (g.M == 0 || g.N == 0 || g.batches == 0) return;

  const bool tensor_cores = std::is_same_v<T, float> && p.precision != MathPrecision::FP32;
  simt::LaunchConfig cfg;
  cfg.name = tensor_cores ? "gemm_tensor_core" : "gemm_simt";
  cfg.problem = "M " + std::to_string(p.M) + ", N " + std::to_string(p.N) + ", K " + std::to_string(p.K) +
                ", batch " + shape_str(p.batch) +
                (p.precision == MathPrecision::BF16 ? ", bf16" : p.precision == MathPrecision::TF32 ? ", tf32" : "");
  cfg.grid = dim3(unsigned(simt::ceil_div(g.N, kTileN)), unsigned(simt::min_of<int64_t>(simt::ceil_div(g.M, kTileM), kMaxGridYZ)),
                  unsigned(simt::min_of<int64_t>(g.batches, kMaxGridYZ)));
  if constexpr (std::is_same_v<T, float>) {
    if (tensor_cores) {
      cfg.block = dim3(kTcThreads);
      if (p.precision == MathPrecision::TF32) simt::launch(cfg, gemm_tensor_core<mma::Precision::TF32>, g);
      else simt::launch(cfg, gemm_tensor_core<mma::Precision::BF16>, g);
      return;
    }
  }
  cfg.block = dim3(kSimtThreads);
  simt::launch(cfg, gemm_simt<T>, g);
}

template void CudaKernels::gemm<float>(const GemmProblem<float>&);
template void CudaKernels::gemm<double>(const GemmProblem<double>&);

}  // namespace onenip::kernels

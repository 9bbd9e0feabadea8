// Our CUDA GEMM (cuda/gemm.cu) against cuBLAS, in FP32, TF32 and BF16 (FP32 accumulation), at
// square sizes and at the model's linear shapes. Prints TFLOP/s, our share of cuBLAS's, and the
// largest difference between the two results (relative to the largest |C|).
//
//   ./build/bench/bench_cuda_gemm            (needs a GPU with sm_80 or later)
//
// Row-major C [M, N] = A [M, K] B [K, N]; cuBLAS, column-major, computes C^T = B^T A^T on the
// same buffers. For BF16, cuBLAS gets A and B already in BF16 (as a model stores them), while
// our kernel takes float and rounds as it stages the tiles: the same math, more bytes read.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/gemm.hpp"
#include "runtime.cuh"
#include "timing.cuh"

using onenip::kernels::CudaKernels;
using onenip::kernels::GemmProblem;
using onenip::kernels::MathPrecision;
using onenip::bench::time_ms;

namespace {

void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuBLAS error %d in %s\n", int(s), what);
    std::exit(1);
  }
}

struct Shape3 {
  const char* what;
  int64_t M, N, K;
};

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "bench_cuda_gemm: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d)\n", prop.name, prop.major, prop.minor);

  cublasHandle_t handle;
  cublas_check(cublasCreate(&handle), "cublasCreate");
  cublas_check(cublasSetStream(handle, onenip::cuda::stream()), "cublasSetStream");

  const Shape3 shapes[] = {
      {"square 512", 512, 512, 512},         {"square 1024", 1024, 1024, 1024},
      {"square 2048", 2048, 2048, 2048},     {"square 4096", 4096, 4096, 4096},
      {"linear 8x196 tok, 256->768", 8 * 196, 768, 256}, {"linear 8x196 tok, 768->256", 8 * 196, 256, 768},
      {"linear 8x196 tok, 256->1024", 8 * 196, 1024, 256}, {"linear 8x196 tok, 1024->256", 8 * 196, 256, 1024},
  };
  const MathPrecision precisions[] = {MathPrecision::FP32, MathPrecision::TF32, MathPrecision::BF16};
  const char* names[] = {"fp32", "tf32", "bf16"};

  std::printf("%-30s %-5s %12s %12s %10s %12s\n", "shape (M N K)", "math", "ours TFLOP/s", "cuBLAS", "% cuBLAS",
              "max |diff|/max|C|");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 1.f);
  for (const Shape3& s : shapes) {
    const int64_t M = s.M, N = s.N, K = s.K;
    std::vector<float> ha(size_t(M * K)), hb(size_t(K * N));
    for (float& x : ha) x = nd(rng);
    for (float& x : hb) x = nd(rng);
    std::vector<__nv_bfloat16> ha16(ha.size()), hb16(hb.size());
    for (size_t i = 0; i < ha.size(); ++i) ha16[i] = __float2bfloat16(ha[i]);
    for (size_t i = 0; i < hb.size(); ++i) hb16[i] = __float2bfloat16(hb[i]);
    float *a, *b, *c, *c_ref;
    __nv_bfloat16 *a16, *b16;
    cudaMalloc(&a, ha.size() * 4), cudaMalloc(&b, hb.size() * 4);
    cudaMalloc(&c, size_t(M * N) * 4), cudaMalloc(&c_ref, size_t(M * N) * 4);
    cudaMalloc(&a16, ha.size() * 2), cudaMalloc(&b16, hb.size() * 2);
    cudaMemcpy(a, ha.data(), ha.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(b, hb.data(), hb.size() * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(a16, ha16.data(), ha16.size() * 2, cudaMemcpyHostToDevice);
    cudaMemcpy(b16, hb16.data(), hb16.size() * 2, cudaMemcpyHostToDevice);

    for (int pi = 0; pi < 3; ++pi) {
      const MathPrecision prec = precisions[pi];
      GemmProblem<float> p;
      p.device = onenip::Device::CUDA;
      p.M = M, p.N = N, p.K = K;
      p.a = a, p.a_rs = K, p.a_cs = 1;
      p.b = b, p.b_rs = N, p.b_cs = 1;
      p.c = c, p.ldc = N, p.precision = prec;
      const double ours = time_ms([&] { CudaKernels::gemm(p); });

      const float alpha = 1.f, beta = 0.f;
      const bool bf16 = prec == MathPrecision::BF16;
      const cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
      const cublasComputeType_t compute = prec == MathPrecision::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
      const void* A = bf16 ? static_cast<const void*>(a16) : a;
      const void* B = bf16 ? static_cast<const void*>(b16) : b;
      auto blas = [&] {
        cublas_check(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K), &alpha, B, in_type, int(N), A,
                                  in_type, int(K), &beta, c_ref, CUDA_R_32F, int(N), compute, CUBLAS_GEMM_DEFAULT),
                     "cublasGemmEx");
      };
      const double theirs = time_ms(blas);

      std::vector<float> got(size_t(M * N)), want(size_t(M * N));
      cudaMemcpy(got.data(), c, got.size() * 4, cudaMemcpyDeviceToHost);
      cudaMemcpy(want.data(), c_ref, want.size() * 4, cudaMemcpyDeviceToHost);
      double diff = 0, peak = 0;
      for (size_t i = 0; i < got.size(); ++i)
        diff = std::max(diff, double(std::abs(got[i] - want[i]))), peak = std::max(peak, double(std::abs(want[i])));

      const double flop = 2.0 * double(M) * double(N) * double(K);
      char shape[96];
      std::snprintf(shape, sizeof shape, "%s (%lld %lld %lld)", s.what, static_cast<long long>(M),
                    static_cast<long long>(N), static_cast<long long>(K));
      std::printf("%-30s %-5s %12.2f %12.2f %9.1f%% %12.2e\n", shape, names[pi], flop / ours * 1e-9,
                  flop / theirs * 1e-9, 100.0 * theirs / ours, diff / std::max(peak, 1e-30));
    }
    cudaFree(a), cudaFree(b), cudaFree(c), cudaFree(c_ref), cudaFree(a16), cudaFree(b16);
  }
  cublasDestroy(handle);
  return 0;
}

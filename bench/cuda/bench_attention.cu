// The CUDA fused attention (cuda/attention.cu), forward and forward + backward, in FP32 (exact)
// and on TF32 / BF16 tensor cores: at the model's shapes (B 8 and 64, T 196 / 256 / 400, 8
// heads of 32, the neighbour mask and dropout 0.1) and at long sequences (T 1024 and 4096, D 64
// and 128, no mask). Prints ms, TFLOP/s and the share of the device's dense peak for the math
// used (FP32 on CUDA cores, or TF32 / BF16 tensor cores).
//
//   ./build-gpu/bench/cuda/bench_cuda_attention          (needs a GPU with sm_80 or later)
//
// FLOPs are the usual count for attention: 4 B H Tq Tk D forward (Q Kᵀ and P V, D == Dv), and
// 2.5 times that for backward (five products), whatever the kernel recomputes.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/attention.hpp"
#include "runtime.cuh"
#include "timing.cuh"

using onenip::kernels::AttentionProblem;
using onenip::kernels::CudaKernels;
using onenip::kernels::DropoutMask;
using onenip::kernels::MathPrecision;

// 100 ms per measurement, so that every shape stays well inside gpu_check.sh's limit.
double time_ms(const std::function<void()>& f) { return onenip::bench::time_ms(f, 100); }

namespace {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(e));
  std::exit(1);
}

// The device's dense peak in TFLOP/s for `p`: SMs x boost clock x FLOPs per SM per clock
// (FMA = 2): FP32 128 (sm_80) or 256 (sm_86 and later); BF16 tensor cores 2048 (sm_80, sm_86,
// sm_89: A100 312 TFLOP/s) or 4096 (sm_90: H100 989), TF32 half of BF16.
double peak_tflops(MathPrecision p) {
  int dev = 0, sms = 0, clock_khz = 0, major = 0, minor = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "SM count");
  check(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, dev), "clock");
  check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev), "compute capability");
  check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev), "compute capability");
  double per_clock = 0;
  if (p == MathPrecision::FP32) per_clock = major == 8 && minor == 0 ? 128 : 256;
  else per_clock = (major >= 9 ? 4096 : 2048) / (p == MathPrecision::TF32 ? 2 : 1);
  return sms * (clock_khz * 1e3) * per_clock * 1e-12;
}

// n device floats in [-1, 1).
float* device_floats(size_t n, unsigned seed) {
  std::vector<float> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = float((i * 2654435761u + seed) % 4096) / 2048.0f - 1.0f;
  float* p = nullptr;
  check(cudaMalloc(&p, n * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

// The model's neighbour mask on a side x side grid: -inf where both grid distances are <= n / 2.
float* neighbour_mask(int side, int n) {
  const int T = side * side;
  std::vector<float> h(size_t(T) * T, 0.f);
  for (int i = 0; i < T; ++i)
    for (int j = 0; j < T; ++j)
      if (std::abs(i / side - j / side) <= n / 2 && std::abs(i % side - j % side) <= n / 2)
        h[size_t(i) * T + j] = -std::numeric_limits<float>::infinity();
  float* p = nullptr;
  check(cudaMalloc(&p, h.size() * sizeof(float)), "cudaMalloc");
  check(cudaMemcpy(p, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
  return p;
}

struct Case {
  int64_t B, H, T, D;
  int grid_side;  // > 0: the neighbour mask on that grid (T = side^2) and dropout 0.1
};

void bench(const Case& c) {
  const int64_t n = c.B * c.H * c.T * c.D, rows = c.B * c.H * c.T;
  float *q = device_floats(size_t(n), 1), *k = device_floats(size_t(n), 2), *v = device_floats(size_t(n), 3);
  float *go = device_floats(size_t(n), 4), *out = nullptr, *lse = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr;
  for (float** p : {&out, &dq, &dk, &dv}) check(cudaMalloc(p, size_t(n) * sizeof(float)), "cudaMalloc");
  check(cudaMalloc(&lse, size_t(rows) * sizeof(float)), "cudaMalloc");
  float* mask = c.grid_side > 0 ? neighbour_mask(c.grid_side, 7) : nullptr;
  onenip::Generator gen(5);
  DropoutMask drop(gen, 0.1, c.B * c.H * c.T * c.T);

  AttentionProblem<float> p;
  p.device = onenip::Device::CUDA;
  p.B = c.B, p.H = c.H, p.Tq = p.Tk = c.T, p.D = p.Dv = c.D, p.scale = float(1.0 / std::sqrt(double(c.D)));
  const int64_t sb = c.H * c.T * c.D, sh = c.T * c.D, st = c.D;
  p.q = {q, sb, sh, st}, p.k = {k, sb, sh, st}, p.v = {v, sb, sh, st};
  if (mask) {
    p.mask = mask, p.mi = c.T, p.mj = 1;
    p.drop = &drop, p.drop_scale = drop.scale<float>();
  }
  p.out = {out, sb, sh, st}, p.lse = lse, p.grad_out = {go, sb, sh, st};
  p.dq = {dq, sb, sh, st}, p.dk = {dk, sb, sh, st}, p.dv = {dv, sb, sh, st};

  const double fwd_flop = 4.0 * double(c.B * c.H) * double(c.T) * double(c.T) * double(c.D);
  const std::string shape = "B " + std::to_string(c.B) + " H " + std::to_string(c.H) + " T " + std::to_string(c.T) +
                            " D " + std::to_string(c.D) + (mask ? " mask+dropout" : "");
  for (MathPrecision prec : {MathPrecision::FP32, MathPrecision::TF32, MathPrecision::BF16}) {
    p.precision = prec;
    const char* name = prec == MathPrecision::FP32 ? "fp32" : prec == MathPrecision::TF32 ? "tf32" : "bf16";
    const double peak = peak_tflops(prec);
    const double f_ms = time_ms([&] { CudaKernels::attention(p); });
    const double fb_ms = time_ms([&] { CudaKernels::attention(p), CudaKernels::attention_backward(p); });
    const double f_tf = fwd_flop / (f_ms * 1e-3) * 1e-12, fb_tf = 3.5 * fwd_flop / (fb_ms * 1e-3) * 1e-12;
    std::printf("%-36s %s  forward %9.3f ms %7.2f TFLOP/s %5.1f %%  | fwd+bwd %9.3f ms %7.2f TFLOP/s %5.1f %%\n",
                shape.c_str(), name, f_ms, f_tf, 100 * f_tf / peak, fb_ms, fb_tf, 100 * fb_tf / peak);
    std::fflush(stdout);
  }
  for (float* ptr : {q, k, v, go, out, lse, dq, dk, dv, mask})
    if (ptr) cudaFree(ptr);
}

}  // namespace

// Arguments (gpu_check.sh passes Google Benchmark's --benchmark_out) are ignored.
int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "bench_cuda_attention: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "properties");
  std::printf("device: %s (sm_%d%d); dense peak fp32 %.1f, tf32 %.1f, bf16 %.1f TFLOP/s\n", prop.name, prop.major,
              prop.minor, peak_tflops(MathPrecision::FP32), peak_tflops(MathPrecision::TF32),
              peak_tflops(MathPrecision::BF16));
  // The model: 8 heads of 32 on 14x14, 16x16 and 20x20 token grids.
  for (int64_t B : {8, 64})
    for (int side : {14, 16, 20}) bench({B, 8, int64_t(side) * side, 32, side});
  // Long sequences.
  for (int64_t D : {64, 128}) {
    bench({8, 8, 1024, D, 0});
    bench({1, 8, 4096, D, 0});
  }
  return 0;
}

// Kernel lab: attention forward, version by version (see README.md). Each version runs on the
// same q, k, v [B, H, T, D] (no mask), is checked against a CPU reference in double, and, on a
// GPU, timed (ms, TFLOP/s at 4 B H T^2 D FLOPs).
//
//   lab_attention_forward [version] [B H T D]     version 0 (default): every version
//
// The source is written against the project's portable layer (cuda/simt/portable.cuh), so the
// same file also runs under the SIMT emulator (tests: a tiny size, the checks only).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/attention.hpp"
#include "runtime.cuh"
#if !ONENIP_SIMT_EMULATED
#include "../../bench/cuda/timing.cuh"
#endif

using onenip::Device;
using onenip::kernels::AttentionProblem;
using onenip::kernels::CudaKernels;
using onenip::kernels::MathPrecision;
namespace simt = onenip::simt;

namespace lab {

struct Size {
  int64_t B = 4, H = 8, T = 256, D = 64;
  int64_t bh() const { return B * H; }
};

// ---- v1: naive, the scores materialised in global memory: S [B H, T, T] ----
// S[bh, i, j] = scale q_i . k_j, a thread per element.
__global__ void naive_scores(const float* q, const float* k, float* s, int64_t BH, int64_t T, int64_t D, float scale) {
  const int64_t n = BH * T * T, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += step) {
    const int64_t bh = e / (T * T), i = e / T % T, j = e % T;
    const float* qi = q + (bh * T + i) * D;
    const float* kj = k + (bh * T + j) * D;
    float acc = 0.f;
    for (int64_t d = 0; d < D; ++d) acc += qi[d] * kj[d];
    s[e] = scale * acc;
  }
}
// Softmax of each row of S in place, a thread per row.
__global__ void naive_softmax(float* s, int64_t rows, int64_t T) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
    float* row = s + r * T;
    float m = -std::numeric_limits<float>::infinity(), sum = 0.f;
    for (int64_t j = 0; j < T; ++j) m = simt::max_of(m, row[j]);
    for (int64_t j = 0; j < T; ++j) sum += (row[j] = std::exp(row[j] - m));
    for (int64_t j = 0; j < T; ++j) row[j] /= sum;
  }
}
// out[bh, i, c] = sum_j P[bh, i, j] v[bh, j, c], a thread per element.
__global__ void naive_pv(const float* p, const float* v, float* out, int64_t BH, int64_t T, int64_t D) {
  const int64_t n = BH * T * D, step = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n; e += step) {
    const int64_t bh = e / (T * D), i = e / D % T, c = e % D;
    float acc = 0.f;
    for (int64_t j = 0; j < T; ++j) acc += p[(bh * T + i) * T + j] * v[(bh * T + j) * D + c];
    out[e] = acc;
  }
}

simt::LaunchConfig grid_for(const char* name, int64_t work) {
  simt::LaunchConfig cfg;
  cfg.name = name;
  cfg.grid = dim3(unsigned(simt::min_of<int64_t>(simt::ceil_div(work, 256), 65535)));
  cfg.block = dim3(256);
  return cfg;
}

void forward_v1(const Size& z, const float* q, const float* k, const float* v, float* out, float* scores) {
  const float scale = float(1.0 / std::sqrt(double(z.D)));
  simt::launch(grid_for("naive_scores", z.bh() * z.T * z.T), naive_scores, q, k, scores, z.bh(), z.T, z.D, scale);
  simt::launch(grid_for("naive_softmax", z.bh() * z.T), naive_softmax, scores, z.bh() * z.T, z.T);
  simt::launch(grid_for("naive_pv", z.bh() * z.T * z.D), naive_pv, scores, v, out, z.bh(), z.T, z.D);
}

// ---- v2, v3, v4: the library's flash kernel (cuda/attention.cu), exact FP32, TF32, BF16 ----
void forward_library(const Size& z, MathPrecision prec, const float* q, const float* k, const float* v, float* out,
                     float* lse) {
  AttentionProblem<float> p;
  p.device = Device::CUDA;
  p.B = z.B, p.H = z.H, p.Tq = p.Tk = z.T, p.D = p.Dv = z.D, p.scale = float(1.0 / std::sqrt(double(z.D)));
  const int64_t sb = z.H * z.T * z.D, sh = z.T * z.D, st = z.D;
  p.q = {q, sb, sh, st}, p.k = {k, sb, sh, st}, p.v = {v, sb, sh, st};
  p.out = {out, sb, sh, st}, p.lse = lse, p.precision = prec;
  CudaKernels::attention(p);
}

struct Version {
  const char* what;
  double tol;  // largest |out - reference| accepted (inputs in [-1, 1))
};
const Version kVersions[] = {
    {"v1 naive: scores, softmax and P V as three kernels, S [B H, T, T] in global memory", 1e-5},
    {"v2 flash, exact FP32: tiles in shared memory, online softmax, no T x T matrix", 1e-5},
    {"v3 flash, TF32 tensor cores (FP32 accumulate)", 1e-3},
    {"v4 flash, BF16 tensor cores (FP32 accumulate)", 1e-2},
};

// Reference in double on the CPU.
std::vector<double> reference(const Size& z, const std::vector<float>& q, const std::vector<float>& k,
                              const std::vector<float>& v) {
  std::vector<double> out(size_t(z.bh() * z.T * z.D)), s(size_t(z.T));
  const double scale = 1.0 / std::sqrt(double(z.D));
  for (int64_t bh = 0; bh < z.bh(); ++bh)
    for (int64_t i = 0; i < z.T; ++i) {
      double m = -std::numeric_limits<double>::infinity(), sum = 0;
      for (int64_t j = 0; j < z.T; ++j) {
        double acc = 0;
        for (int64_t d = 0; d < z.D; ++d) acc += double(q[size_t((bh * z.T + i) * z.D + d)]) * k[size_t((bh * z.T + j) * z.D + d)];
        s[size_t(j)] = scale * acc, m = std::max(m, s[size_t(j)]);
      }
      for (int64_t j = 0; j < z.T; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - m));
      for (int64_t c = 0; c < z.D; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < z.T; ++j) acc += s[size_t(j)] * v[size_t((bh * z.T + j) * z.D + c)];
        out[size_t((bh * z.T + i) * z.D + c)] = acc / sum;
      }
    }
  return out;
}

// Device copies of host vectors, freed together at the end.
struct DeviceBuffers {
  std::vector<std::pair<float*, size_t>> held;
  float* copy_of(const std::vector<float>& h) {
    auto* p = static_cast<float*>(onenip::cuda::caching_allocator().allocate(h.size() * sizeof(float)));
    onenip::cuda::copy(p, h.data(), h.size() * sizeof(float), Device::CPU, Device::CUDA);
    held.emplace_back(p, h.size() * sizeof(float));
    return p;
  }
  ~DeviceBuffers() {
    for (auto [p, bytes] : held) onenip::cuda::caching_allocator().deallocate(p, bytes);
  }
};

// Milliseconds per call (GPU only; 0 under the emulator, which does not time).
template <typename F>
double time_ms(F&& f) {
#if ONENIP_SIMT_EMULATED
  (void)f;
  return 0;
#else
  return onenip::bench::time_ms(f);
#endif
}

}  // namespace lab

int main(int argc, char** argv) {
  using namespace lab;
  const int only = argc > 1 ? std::atoi(argv[1]) : 0;
  Size z;
  if (argc > 5) z = {std::atoll(argv[2]), std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5])};
  std::printf("attention forward, B %lld H %lld T %lld D %lld\n", (long long)z.B, (long long)z.H, (long long)z.T,
              (long long)z.D);
  const size_t n = size_t(z.bh() * z.T * z.D);
  std::vector<float> hq(n), hk(n), hv(n), hout(n);
  for (size_t i = 0; i < n; ++i)
    hq[i] = float((i * 2654435761u + 1) % 4096) / 2048.f - 1.f, hk[i] = float((i * 2246822519u + 7) % 4096) / 2048.f - 1.f,
    hv[i] = float((i * 3266489917u + 3) % 4096) / 2048.f - 1.f;
  const std::vector<double> want = reference(z, hq, hk, hv);
  DeviceBuffers dev;
  float *q = dev.copy_of(hq), *k = dev.copy_of(hk), *v = dev.copy_of(hv), *out = dev.copy_of(hout);
  float* lse = dev.copy_of(std::vector<float>(size_t(z.bh() * z.T)));
  float* scores = only == 0 || only == 1 ? dev.copy_of(std::vector<float>(size_t(z.bh() * z.T * z.T))) : nullptr;
  const MathPrecision precision[] = {MathPrecision::FP32, MathPrecision::FP32, MathPrecision::TF32, MathPrecision::BF16};
  bool ok = true;
  for (int ver = 1; ver <= 4; ++ver) {
    if (only != 0 && only != ver) continue;
    auto run = [&] {
      if (ver == 1) forward_v1(z, q, k, v, out, scores);
      else forward_library(z, precision[ver - 1], q, k, v, out, lse);
    };
    run();
    onenip::cuda::copy(hout.data(), out, n * sizeof(float), Device::CUDA, Device::CPU);
    double worst = 0;
    for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(hout[i]) - want[i]));
    const bool pass = worst <= kVersions[ver - 1].tol;
    ok = ok && pass;
    const double ms = time_ms(run), tflops = ms > 0 ? 4.0 * z.bh() * z.T * z.T * z.D / (ms * 1e-3) * 1e-12 : 0;
    std::printf("%-84s %s (max error %.2e, tol %.0e)", kVersions[ver - 1].what, pass ? "ok" : "WRONG", worst,
                kVersions[ver - 1].tol);
    if (ms > 0) std::printf("  %9.3f ms %7.2f TFLOP/s", ms, tflops);
    std::printf("\n");
  }
  return ok ? 0 : 1;
}

// GPU benchmark of the softmax and layer-norm kernels (cuda/softmax.cu, cuda/norm.cu), forward
// and backward, at the model's shapes and a large one. Prints the bytes each kernel must move,
// the achieved GB/s and its share of the device's peak memory bandwidth (2 x memory clock x bus
// width). Calls the kernels directly (kernels::CudaKernels) on cudaMalloc'd float buffers and
// times them with CUDA events on the backend's stream.
//
// Run: ./build-gpu/cuda/bench_softmax_norm [iterations]
#include <cstdio>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/norm.hpp"
#include "onenip/kernels/problems/softmax.hpp"
#include "bench_util.cuh"

using namespace onenip;
using kernels::CudaKernels;

namespace {

using bench::device_floats;
using bench::peak_gbs;
using bench::report;

void bench_softmax(int64_t rows, int64_t len, int iters, double peak) {
  const size_t n = size_t(rows * len);
  float *x = device_floats(n, 1), *g = device_floats(n, 2), *y = device_floats(n, 3), *dx = device_floats(n, 4);
  char name[96];
  for (bool log : {false, true}) {
    kernels::SoftmaxProblem<float> f{Device::CUDA, rows, len, 1, log, x, y};
    kernels::SoftmaxBackwardProblem<float> b{Device::CUDA, rows, len, 1, log, y, g, dx};
    std::snprintf(name, sizeof name, "%s fwd %lld x %lld", log ? "log_softmax" : "softmax", (long long)rows,
                  (long long)len);
    report(name, 2.0 * n * 4, iters, peak, [&] { CudaKernels::softmax(f); });  // x in, y out
    std::snprintf(name, sizeof name, "%s bwd %lld x %lld", log ? "log_softmax" : "softmax", (long long)rows,
                  (long long)len);
    report(name, 3.0 * n * 4, iters, peak, [&] { CudaKernels::softmax_backward(b); });  // y, g in, dx out
  }
  for (float* p : {x, g, y, dx}) cudaFree(p);
}

void bench_layer_norm(int64_t rows, int64_t C, int iters, double peak) {
  const size_t n = size_t(rows * C);
  float *x = device_floats(n, 1), *g = device_floats(n, 2), *y = device_floats(n, 3), *dx = device_floats(n, 4);
  float *w = device_floats(size_t(C), 5), *b = device_floats(size_t(C), 6), *dw = device_floats(size_t(C), 7),
        *db = device_floats(size_t(C), 8);
  float *mean = device_floats(size_t(rows), 9), *rstd = device_floats(size_t(rows), 10);
  kernels::LayerNormProblem<float> f{Device::CUDA, rows, C, 1e-5, x, w, b, y, mean, rstd};
  kernels::LayerNormBackwardProblem<float> bw{Device::CUDA, rows, C, x, w, mean, rstd, g, dx, dw, db};
  CudaKernels::layer_norm(f);  // real statistics for the backward
  char name[96];
  std::snprintf(name, sizeof name, "layer_norm fwd %lld x %lld", (long long)rows, (long long)C);
  report(name, 2.0 * n * 4 + 2.0 * rows * 4, iters, peak, [&] { CudaKernels::layer_norm(f); });
  // x and g read by the dx pass and again by the parameter pass; dx written
  std::snprintf(name, sizeof name, "layer_norm bwd %lld x %lld (dx, dw, db)", (long long)rows, (long long)C);
  report(name, 5.0 * n * 4, iters, peak, [&] { CudaKernels::layer_norm_backward(bw); });
  for (float* p : {x, g, y, dx, w, b, dw, db, mean, rstd}) cudaFree(p);
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = bench::iterations(argc, argv, 50);
  cudaDeviceProp prop{};
  bench::check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const double peak = peak_gbs();
  std::printf("%s: peak memory bandwidth %.0f GB/s; at most %d calls timed each\n", prop.name, peak, iters);
  bench_softmax(8 * 8 * 196, 196, iters, peak);  // attention scores [B*H*T, T]
  bench_softmax(16384, 4096, iters, peak);
  bench_layer_norm(8 * 196, 256, iters, peak);   // tokens [B*T, C]
  bench_layer_norm(65536, 1024, iters, peak);
  return 0;
}

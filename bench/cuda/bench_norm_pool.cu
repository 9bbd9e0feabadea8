// GPU benchmark of batch norm (cuda/batch_norm.cu), max pooling (cuda/pool.cu) and the separable
// maps behind bilinear resize (cuda/separable.cu) at the backbone's and the model's shapes
// (batch 8, 224x224 images: feature maps 112 .. 7, resized to 14 and score maps to 224). Prints
// the bytes each kernel's passes move by design, the achieved GB/s and its share of the device's
// peak memory bandwidth (2 x memory clock x bus width). Calls the kernels directly
// (kernels::CudaKernels) on cudaMalloc'd float buffers, timed with CUDA events on the backend's
// stream. The separable timing includes the per-call upload of its maps (a synchronising copy).
//
// Run: ./build-gpu/bench/cuda/bench_cuda_norm_pool [iterations]
#include <cstdio>
#include <vector>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/norm.hpp"
#include "onenip/kernels/problems/pool.hpp"
#include "onenip/kernels/problems/separable.hpp"
#include "bench_util.cuh"

using namespace onenip;
using kernels::CudaKernels;

namespace {

using bench::check;
using bench::peak_gbs;
using bench::report;

// Device buffers, freed at the end of each benchmark.
std::vector<float*> buffers;
float* device_floats(size_t n, unsigned seed, float lo = -2.0f) {
  buffers.push_back(bench::device_floats(n, seed, lo));
  return buffers.back();
}
void free_buffers() {
  for (float* p : buffers) cudaFree(p);
  buffers.clear();
}

// x [N, C, S]: eval forward (the frozen backbone's case), training forward and backward.
void bench_batch_norm(int64_t N, int64_t C, int64_t S, bool training, int iters, double peak) {
  const size_t n = size_t(N * C * S);
  float *x = device_floats(n, 1), *y = device_floats(n, 2), *g = device_floats(n, 3), *dx = device_floats(n, 4);
  float *w = device_floats(size_t(C), 5), *b = device_floats(size_t(C), 6), *mean = device_floats(size_t(C), 7);
  float *rstd = device_floats(size_t(C), 8), *rm = device_floats(size_t(C), 9), *rv = device_floats(size_t(C), 10, 0.5f);
  float *dw = device_floats(size_t(C), 11), *db = device_floats(size_t(C), 12);
  kernels::BatchNormProblem<float> f;
  f.device = Device::CUDA, f.N = N, f.C = C, f.S = S, f.training = training;
  f.x = x, f.w = w, f.b = b, f.running_mean = rm, f.running_var = rv, f.y = y, f.mean = mean, f.rstd = rstd;
  char name[96];
  std::snprintf(name, sizeof name, "batch_norm %s fwd [%lld, %lld, %lld]", training ? "train" : "eval", (long long)N,
                (long long)C, (long long)S);
  // eval: x in, y out; training also reads x twice for the statistics
  report(name, (training ? 4.0 : 2.0) * n * 4, iters, peak, [&] { CudaKernels::batch_norm(f); });
  if (training) {
    kernels::BatchNormBackwardProblem<float> bw{Device::CUDA, N, C, S, true, x, w, mean, rstd, g, dx, dw, db};
    std::snprintf(name, sizeof name, "batch_norm train bwd [%lld, %lld, %lld]", (long long)N, (long long)C,
                  (long long)S);
    report(name, 5.0 * n * 4, iters, peak, [&] { CudaKernels::batch_norm_backward(bw); });  // x, g twice; dx
  }
  free_buffers();
}

void bench_max_pool(int64_t N, int64_t C, int64_t H, int64_t W, int iters, double peak) {
  kernels::ConvGeom geom;
  geom.N = N, geom.C = geom.O = geom.groups = C, geom.H = H, geom.W = W;
  geom.kh = geom.kw = 3, geom.sh = geom.sw = 2, geom.pt = geom.pb = geom.pl = geom.pr = 1;
  geom.finish();
  const size_t in = size_t(N * C * H * W), out = size_t(N * C * geom.Ho * geom.Wo);
  float *x = device_floats(in, 1), *y = device_floats(out, 2), *gy = device_floats(out, 3), *gx = device_floats(in, 4);
  kernels::MaxPoolProblem<float> p{Device::CUDA, geom, x, y, gy, gx};
  char name[96];
  std::snprintf(name, sizeof name, "max_pool2d 3x3 s2 p1 fwd [%lld, %lld, %lld, %lld]", (long long)N, (long long)C,
                (long long)H, (long long)W);
  report(name, (in + out) * 4.0, iters, peak, [&] { CudaKernels::max_pool2d(p); });
  std::snprintf(name, sizeof name, "max_pool2d 3x3 s2 p1 bwd [%lld, %lld, %lld, %lld]", (long long)N, (long long)C,
                (long long)H, (long long)W);
  // x in, arg-max out and back in, gy in, gx out
  report(name, (2.0 * in + 3.0 * out) * 4, iters, peak, [&] { CudaKernels::max_pool2d_backward(p); });
  free_buffers();
}

// The bilinear map in -> out with align_corners=True: two taps per output.
kernels::AxisMap<float> bilinear_align_corners(int64_t in, int64_t out) {
  kernels::AxisMap<float> m;
  m.in = in;
  for (int64_t o = 0; o < out; ++o) {
    const double src = out > 1 ? double(o) * double(in - 1) / double(out - 1) : 0.0;
    const int64_t i0 = int64_t(src), i1 = i0 + 1 < in ? i0 + 1 : i0;
    const double t = src - double(i0);
    m.add(i0, float(1 - t));
    if (i1 != i0) m.add(i1, float(t));
    m.end_row();
  }
  return m;
}

void bench_resize(int64_t planes, int64_t in, int64_t out, int iters, double peak) {
  const auto map = bilinear_align_corners(in, out);
  float *x = device_floats(size_t(planes * in * in), 1), *y = device_floats(size_t(planes * out * out), 2);
  kernels::SeparableProblem<float> p{Device::CUDA, planes, &map, &map, false, x, y};
  char name[96];
  std::snprintf(name, sizeof name, "resize_bilinear %lld planes %lld -> %lld", (long long)planes, (long long)in,
                (long long)out);
  // x in, tmp [planes, in, out] out and in, y out
  report(name, (double(in * in) + 2.0 * in * out + double(out * out)) * planes * 4, iters, peak,
         [&] { CudaKernels::separable(p); });
  free_buffers();
}

}  // namespace

int main(int argc, char** argv) {
  const int iters = bench::iterations(argc, argv, 30);
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  const double peak = peak_gbs();
  std::printf("%s: peak memory bandwidth %.0f GB/s; at most %d calls timed each\n", prop.name, peak, iters);
  // the frozen backbone's batch norms (eval), batch 8 at 224x224
  bench_batch_norm(8, 32, 112 * 112, false, iters, peak);
  bench_batch_norm(8, 144, 56 * 56, false, iters, peak);
  bench_batch_norm(8, 192, 28 * 28, false, iters, peak);
  bench_batch_norm(8, 960, 7 * 7, false, iters, peak);
  // a trained batch norm, forward and backward
  bench_batch_norm(8, 32, 112 * 112, true, iters, peak);
  bench_batch_norm(8, 384, 14 * 14, true, iters, peak);
  bench_max_pool(8, 64, 112, 112, iters, peak);
  // feature maps to 14x14, score maps to the image
  bench_resize(8 * 144, 56, 14, iters, peak);
  bench_resize(8 * 32, 112, 14, iters, peak);
  bench_resize(8, 14, 224, iters, peak);
  return 0;
}

// Our CUDA conv2d (cuda/conv.cu: implicit GEMM, depthwise kernels) against cuDNN, FP32, at the
// MobileNetV2 backbone's conv shapes, batch 8, at 224 and 256 px: the 3x3 stride-2 stem,
// depthwise 3x3 (stride 1 and 2) and pointwise 1x1 convs. For each shape and pass (forward,
// input gradient, weight gradient) it prints milliseconds, our speed as a share of cuDNN's, and
// the largest difference between the two results (relative to the largest |result|).
//
//   ./build/bench/cuda/bench_cuda_conv            (needs a GPU with sm_80 or later)
//
// cuDNN picks its algorithm by its own heuristics (cudnnGet*Algorithm_v7, the first that fits);
// only this benchmark links cuDNN, the library never does.
#include <cudnn.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/conv.hpp"
#include "runtime.cuh"
#include "timing.cuh"

using onenip::kernels::ConvGeom;
using onenip::kernels::ConvProblem;
using onenip::kernels::CudaKernels;

// 40 ms per measurement, so the whole run fits bench/gpu_check.sh's time budget.
double time_ms(const auto& f) { return onenip::bench::time_ms(f, 40, 500); }

namespace {

void cudnn_check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) {
    std::fprintf(stderr, "cuDNN error in %s: %s\n", what, cudnnGetErrorString(s));
    std::exit(1);
  }
}

// Device buffer of n floats, normal random values.
float* device_buffer(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> h(n);
  for (float& v : h) v = nd(rng);
  float* d = nullptr;
  cudaMalloc(&d, n * sizeof(float));
  cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice);
  return d;
}

double max_rel_diff(const float* a, const float* b, size_t n) {
  std::vector<float> ha(n), hb(n);
  cudaMemcpy(ha.data(), a, n * sizeof(float), cudaMemcpyDeviceToHost);
  cudaMemcpy(hb.data(), b, n * sizeof(float), cudaMemcpyDeviceToHost);
  double diff = 0, peak = 0;
  for (size_t i = 0; i < n; ++i)
    diff = std::max(diff, double(std::abs(ha[i] - hb[i]))), peak = std::max(peak, double(std::abs(hb[i])));
  return diff / std::max(peak, 1e-30);
}

// cuDNN's descriptors and workspace for one shape.
struct CudnnConv {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  void* workspace = nullptr;
  size_t bytes = 0;

  CudnnConv(cudnnHandle_t h, const ConvGeom& g) {
    cudnn_check(cudnnCreateTensorDescriptor(&x), "x");
    cudnn_check(cudnnCreateTensorDescriptor(&y), "y");
    cudnn_check(cudnnCreateFilterDescriptor(&w), "w");
    cudnn_check(cudnnCreateConvolutionDescriptor(&conv), "conv");
    cudnn_check(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.N), int(g.C), int(g.H), int(g.W)),
                "x");
    cudnn_check(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.N), int(g.O), int(g.Ho),
                                           int(g.Wo)),
                "y");
    cudnn_check(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(g.O), int(g.Cg()), int(g.kh),
                                           int(g.kw)),
                "w");
    cudnn_check(cudnnSetConvolution2dDescriptor(conv, int(g.pt), int(g.pl), int(g.sh), int(g.sw), int(g.dh), int(g.dw),
                                                CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                "conv");
    cudnn_check(cudnnSetConvolutionGroupCount(conv, int(g.groups)), "groups");
    cudnn_check(cudnnSetConvolutionMathType(conv, CUDNN_DEFAULT_MATH), "math");  // FP32, no TF32: like ours
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fp;
    cudnn_check(cudnnGetConvolutionForwardAlgorithm_v7(h, x, w, conv, y, 1, &n, &fp), "forward algorithm");
    cudnnConvolutionBwdDataAlgoPerf_t dp;
    cudnn_check(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, w, y, conv, x, 1, &n, &dp), "data algorithm");
    cudnnConvolutionBwdFilterAlgoPerf_t wp;
    cudnn_check(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, x, y, conv, w, 1, &n, &wp), "filter algorithm");
    fwd = fp.algo, bwd_data = dp.algo, bwd_filter = wp.algo;
    size_t a = 0, b = 0, c = 0;
    cudnn_check(cudnnGetConvolutionForwardWorkspaceSize(h, x, w, conv, y, fwd, &a), "workspace");
    cudnn_check(cudnnGetConvolutionBackwardDataWorkspaceSize(h, w, y, conv, x, bwd_data, &b), "workspace");
    cudnn_check(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, x, y, conv, w, bwd_filter, &c), "workspace");
    bytes = std::max({a, b, c, size_t(1)});
    cudaMalloc(&workspace, bytes);
  }
  ~CudnnConv() {
    cudaFree(workspace);
    cudnnDestroyTensorDescriptor(x), cudnnDestroyTensorDescriptor(y);
    cudnnDestroyFilterDescriptor(w), cudnnDestroyConvolutionDescriptor(conv);
  }
};

}  // namespace

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::fprintf(stderr, "bench_cuda_conv: no CUDA device\n");
    return 1;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::printf("device: %s (sm_%d%d), cuDNN %zu\n", prop.name, prop.major, prop.minor, cudnnGetVersion());
  cudnnHandle_t handle;
  cudnn_check(cudnnCreate(&handle), "cudnnCreate");
  cudnn_check(cudnnSetStream(handle, onenip::cuda::stream()), "cudnnSetStream");

  // MobileNetV2's convs as fractions of the input resolution: size = px / divisor.
  struct Layer {
    const char* what;
    int64_t C, O, divisor, k, stride, groups;
  };
  const Layer layers[] = {
      {"stem 3x3 s2 3->32", 3, 32, 1, 3, 2, 1},       {"dw 3x3 32", 32, 32, 2, 3, 1, 32},
      {"pw 32->16", 32, 16, 2, 1, 1, 1},              {"pw 16->96", 16, 96, 2, 1, 1, 1},
      {"dw 3x3 s2 96", 96, 96, 2, 3, 2, 96},          {"pw 96->24", 96, 24, 4, 1, 1, 1},
      {"pw 24->144", 24, 144, 4, 1, 1, 1},            {"dw 3x3 144", 144, 144, 4, 3, 1, 144},
      {"dw 3x3 384", 384, 384, 16, 3, 1, 384},        {"pw 384->64", 384, 64, 16, 1, 1, 1},
      {"pw 960->160", 960, 160, 32, 1, 1, 1},         {"pw 320->1280", 320, 1280, 32, 1, 1, 1},
  };
  const int64_t batch = 8;
  const char* passes[] = {"forward", "grad input", "grad weight"};

  std::printf("%-34s %-11s %10s %10s %9s %12s\n", "shape (batch 8)", "pass", "ours ms", "cuDNN ms", "% cuDNN",
              "max |diff|/max");
  std::mt19937 rng(1);
  for (int64_t px : {224, 256}) {
    for (const Layer& l : layers) {
      ConvGeom g;
      g.N = batch, g.C = l.C, g.H = g.W = px / l.divisor, g.O = l.O, g.kh = g.kw = l.k;
      g.sh = g.sw = l.stride, g.groups = l.groups;
      g.pt = g.pb = g.pl = g.pr = l.k / 2;  // symmetric (cuDNN has no asymmetric padding)
      g.finish();
      const size_t nx = size_t(g.N * g.C * g.H * g.W), nw = size_t(g.O * g.K()), ny = size_t(g.N * g.O * g.P());
      float *x = device_buffer(nx, rng), *w = device_buffer(nw, rng), *y = device_buffer(ny, rng);
      float *ours = nullptr, *theirs = nullptr;
      const size_t most = std::max({nx, nw, ny});
      cudaMalloc(&ours, most * sizeof(float)), cudaMalloc(&theirs, most * sizeof(float));
      CudnnConv cd(handle, g);
      const float one = 1.f, zero = 0.f;
      char shape[96];
      std::snprintf(shape, sizeof shape, "%s @%lldpx (%lldx%lld)", l.what, static_cast<long long>(px),
                    static_cast<long long>(g.H), static_cast<long long>(g.W));
      for (int pass = 0; pass < 3; ++pass) {
        ConvProblem<float> p;
        p.device = onenip::Device::CUDA;
        p.geom = g;
        p.x = pass == 1 ? ours : x, p.w = pass == 2 ? ours : w, p.y = pass == 0 ? ours : y;
        auto run_ours = [&] {
          if (pass == 0) CudaKernels::conv2d(p);
          else if (pass == 1) CudaKernels::conv2d_grad_input(p);
          else CudaKernels::conv2d_grad_weight(p);
        };
        auto run_cudnn = [&] {
          if (pass == 0)
            cudnn_check(cudnnConvolutionForward(handle, &one, cd.x, x, cd.w, w, cd.conv, cd.fwd, cd.workspace, cd.bytes,
                                                &zero, cd.y, theirs),
                        "forward");
          else if (pass == 1)
            cudnn_check(cudnnConvolutionBackwardData(handle, &one, cd.w, w, cd.y, y, cd.conv, cd.bwd_data, cd.workspace,
                                                     cd.bytes, &zero, cd.x, theirs),
                        "backward data");
          else
            cudnn_check(cudnnConvolutionBackwardFilter(handle, &one, cd.x, x, cd.y, y, cd.conv, cd.bwd_filter,
                                                       cd.workspace, cd.bytes, &zero, cd.w, theirs),
                        "backward filter");
        };
        const double t_ours = time_ms(run_ours), t_cudnn = time_ms(run_cudnn);
        const size_t n = pass == 0 ? ny : pass == 1 ? nx : nw;
        std::printf("%-34s %-11s %10.3f %10.3f %8.1f%% %12.2e\n", shape, passes[pass], t_ours, t_cudnn,
                    100.0 * t_cudnn / t_ours, max_rel_diff(ours, theirs, n));
      }
      cudaFree(x), cudaFree(w), cudaFree(y), cudaFree(ours), cudaFree(theirs);
    }
  }
  cudnnDestroy(handle);
  return 0;
}

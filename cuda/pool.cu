// Max pooling on CUDA. x [N, C, H, W] -> y [N, C, Ho, Wo], the window geometry of a depthwise
// conv (ConvGeom). Forward: a thread per output, taps in window order (row-major), padding
// skipped, ties to the first maximum, NaN taken (as the CPU kernel). Backward without atomics:
// the arg-max of every window goes to scratch, then a thread per input element gathers the
// gradients of the windows whose arg-max it is, in output order (the CPU's order of adds).
#include <cstdint>
#include <limits>
#include <string>

#include "block_reduce.cuh"
#include "grid_stride.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/pool.hpp"

namespace onenip::kernels {

namespace {
namespace pool_detail {

// The window geometry as kernel arguments.
struct PoolShape {
  int64_t planes, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, dh, dw;
};

PoolShape pool_shape(const ConvGeom& g) {
  return {g.N * g.C, g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw};
}

// Max of window (oh, ow) of plane xp; arg (if wanted) gets the flat in-plane index of the
// winner (the first tap when all are -inf, so the gradient stays inside the window).
template <typename T>
__device__ __forceinline__ T window_max(const PoolShape& s, const T* xp, int64_t oh, int64_t ow, int32_t* arg) {
  T m = -std::numeric_limits<T>::infinity();
  int32_t at = -1;
  for (int64_t ki = 0; ki < s.kh; ++ki) {
    const int64_t ih = oh * s.sh + ki * s.dh - s.pt;
    if (ih < 0 || ih >= s.H) continue;
    for (int64_t kj = 0; kj < s.kw; ++kj) {
      const int64_t iw = ow * s.sw + kj * s.dw - s.pl;
      if (iw < 0 || iw >= s.W) continue;
      const T v = xp[ih * s.W + iw];
      if (at < 0 || v > m || v != v) m = v, at = int32_t(ih * s.W + iw);
    }
  }
  if (arg) *arg = at;
  return m;
}

// A thread per output element (plane, oh, ow): y and/or the window's arg-max.
template <typename T>
__global__ void max_pool_kernel(PoolShape s, const T* x, T* y, int32_t* arg) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  for (int64_t i = cuda::flat_first(); i < n; i += cuda::flat_step()) {
    const int64_t ow = i % s.Wo, r = i / s.Wo, oh = r % s.Ho, q = r / s.Ho;
    const T m = window_max(s, x + q * s.H * s.W, oh, ow, arg ? arg + i : nullptr);
    if (y) y[i] = m;
  }
}

// A thread per input element: gx = 0 plus the gy of every window that contains it and chose it,
// windows in (oh, ow) order. The candidate windows are those whose rows and columns can reach
// (ih, iw); the arg-max decides.
template <typename T>
__global__ void max_pool_gather_kernel(PoolShape s, const int32_t* arg, const T* gy, T* gx) {
  const int64_t n = s.planes * s.H * s.W;
  for (int64_t i = cuda::flat_first(); i < n; i += cuda::flat_step()) {
    const int64_t iw = i % s.W, r = i / s.W, ih = r % s.H, q = r / s.H;
    const int32_t self = int32_t(ih * s.W + iw);
    // oh with oh sh - pt <= ih <= oh sh - pt + (kh - 1) dh, likewise ow
    const int64_t oh0 = simt::max_of<int64_t>(0, simt::ceil_div(simt::max_of<int64_t>(0, ih + s.pt - (s.kh - 1) * s.dh), s.sh));
    const int64_t oh1 = simt::min_of<int64_t>(s.Ho - 1, (ih + s.pt) / s.sh);
    const int64_t ow0 = simt::max_of<int64_t>(0, simt::ceil_div(simt::max_of<int64_t>(0, iw + s.pl - (s.kw - 1) * s.dw), s.sw));
    const int64_t ow1 = simt::min_of<int64_t>(s.Wo - 1, (iw + s.pl) / s.sw);
    T acc = T(0);
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t o = (q * s.Ho + oh) * s.Wo + ow;
        if (arg[o] == self) acc += gy[o];
      }
    gx[i] = acc;
  }
}

std::string sizes(const ConvGeom& g) {
  return "x [" + std::to_string(g.N) + ", " + std::to_string(g.C) + ", " + std::to_string(g.H) + ", " +
         std::to_string(g.W) + "], kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) + ", stride " +
         std::to_string(g.sh) + "x" + std::to_string(g.sw);
}

}  // namespace pool_detail
}  // namespace

template <typename T>
void CudaKernels::max_pool2d(const MaxPoolProblem<T>& p) {
  using namespace pool_detail;
  const PoolShape s = pool_shape(p.geom);
  const int64_t n = s.planes * s.Ho * s.Wo;
  simt::launch(cuda::flat_launch("max_pool2d", n, sizes(p.geom)), max_pool_kernel<T>, s, p.x, p.y,
               static_cast<int32_t*>(nullptr));
}

template <typename T>
void CudaKernels::max_pool2d_backward(const MaxPoolProblem<T>& p) {
  using namespace pool_detail;
  const PoolShape s = pool_shape(p.geom);
  ONENIP_CHECK(s.H * s.W <= int64_t(INT32_MAX), "max_pool2d_backward: planes of ", s.H, "x", s.W,
               " are too large for 32-bit arg-max indices");
  const int64_t outs = s.planes * s.Ho * s.Wo;
  cuda::DeviceScratch<int32_t> arg{size_t(outs)};
  simt::launch(cuda::flat_launch("max_pool2d_backward", outs, sizes(p.geom) + ", arg-max"), max_pool_kernel<T>, s,
               p.x, static_cast<T*>(nullptr), arg.p);
  simt::launch(cuda::flat_launch("max_pool2d_backward", s.planes * s.H * s.W, sizes(p.geom) + ", gather"),
               max_pool_gather_kernel<T>, s, static_cast<const int32_t*>(arg.p), p.gy, p.gx);
}

#define ONENIP_POOL_INSTANTIATE(T)                                             \
  template void CudaKernels::max_pool2d<T>(const MaxPoolProblem<T>&);         \
  template void CudaKernels::max_pool2d_backward<T>(const MaxPoolProblem<T>&);
ONENIP_POOL_INSTANTIATE(float)
ONENIP_POOL_INSTANTIATE(double)
#undef ONENIP_POOL_INSTANTIATE

}  // namespace onenip::kernels

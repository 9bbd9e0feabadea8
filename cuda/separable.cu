// Separable maps on CUDA: y = A_h · x · A_wᵀ per plane, A_h [Ho, H] and A_w [Wo, W] sparse (CSR
// AxisMaps: bilinear / nearest resize, average pooling, blur). Two passes of one kernel, a thread
// per output element summing its row of the map in entry order: first along W into scratch
// tmp [planes, H, Wo], then along H. The adjoint is the same two passes with the transposed maps
// (built on the host, entries in increasing output order), so every output is a gather: no
// atomics. The maps are host data, uploaded per call in one copy.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "block_reduce.cuh"
#include "grid_stride.cuh"
#include "onenip/kernels/cuda.hpp"
#include "onenip/kernels/problems/separable.hpp"

namespace onenip::kernels {

namespace {
namespace separable_detail {

// A CSR map on the device: row o holds entries [start[o], start[o + 1]).
template <typename T>
struct DeviceMap {
  int64_t in, out;
  const int64_t* start;
  const int64_t* idx;
  const T* w;
};

// out [Q, L_out, J] = map applied along the middle axis of in [Q, L_in, J]:
//   out[q, o, j] = sum over row o's entries e of w[e] in[q, idx[e], j], in entry order.
// Along W: Q = planes H, J = 1; along H: Q = planes, J = Wo.
template <typename T>
__global__ void axis_map_kernel(DeviceMap<T> m, int64_t Q, int64_t J, const T* in, T* out) {
  const int64_t n = Q * m.out * J;
  for (int64_t i = cuda::flat_first(); i < n; i += cuda::flat_step()) {
    const int64_t j = i % J, r = i / J, o = r % m.out, q = r / m.out;
    const T* src = in + q * m.in * J + j;
    T s = T(0);
    for (int64_t e = m.start[o]; e < m.start[o + 1]; ++e) s += m.w[e] * src[m.idx[e] * J];
    out[i] = s;
  }
}

// Aᵀ as a CSR map: row i lists (o, w) for every entry of A in column i, o increasing.
template <typename T>
AxisMap<T> transposed(const AxisMap<T>& a) {
  std::vector<int64_t> count(size_t(a.in) + 1, 0);
  for (int64_t i : a.idx) ++count[size_t(i) + 1];
  AxisMap<T> t;
  t.in = a.out;
  t.out = a.in;
  t.start.assign(size_t(a.in) + 1, 0);
  for (size_t i = 0; i < size_t(a.in); ++i) t.start[i + 1] = t.start[i] + count[i + 1];
  t.idx.resize(a.idx.size());
  t.w.resize(a.w.size());
  std::vector<int64_t> next(t.start.begin(), t.start.end() - 1);
  for (int64_t o = 0; o < a.out; ++o)
    for (int64_t e = a.start[size_t(o)]; e < a.start[size_t(o + 1)]; ++e) {
      const size_t at = size_t(next[size_t(a.idx[size_t(e)])]++);
      t.idx[at] = o;
      t.w[at] = a.w[size_t(e)];
    }
  return t;
}

// Both maps in one device buffer of 64-bit words: each map's start, idx, then its weights.
template <typename T>
struct UploadedMaps {
  cuda::DeviceScratch<int64_t> words;
  DeviceMap<T> h, w;

  static size_t words_of(const AxisMap<T>& m) {
    return m.start.size() + m.idx.size() + simt::ceil_div(int64_t(m.w.size() * sizeof(T)), 8);
  }
  UploadedMaps(const AxisMap<T>& ah, const AxisMap<T>& aw) : words(words_of(ah) + words_of(aw)) {
    std::vector<int64_t> host(words.n, 0);
    size_t at = 0;
    auto place = [&](const AxisMap<T>& m) {
      DeviceMap<T> d{m.in, m.out, words.p + at, nullptr, nullptr};
      std::memcpy(host.data() + at, m.start.data(), m.start.size() * 8);
      at += m.start.size();
      d.idx = words.p + at;
      std::memcpy(host.data() + at, m.idx.data(), m.idx.size() * 8);
      at += m.idx.size();
      d.w = reinterpret_cast<const T*>(words.p + at);
      std::memcpy(host.data() + at, m.w.data(), m.w.size() * sizeof(T));
      at += size_t(simt::ceil_div(int64_t(m.w.size() * sizeof(T)), 8));
      return d;
    };
    h = place(ah);
    w = place(aw);
    cuda::copy(words.p, host.data(), words.n * 8, Device::CPU, Device::CUDA);
  }
};

template <typename T>
void apply_maps(const AxisMap<T>& ah, const AxisMap<T>& aw, int64_t planes, const T* x, T* y, const char* what) {
  const UploadedMaps<T> maps(ah, aw);
  const std::string sizes = std::string(what) + ", planes " + std::to_string(planes) + ", " + std::to_string(ah.in) +
                            "x" + std::to_string(aw.in) + " -> " + std::to_string(ah.out) + "x" +
                            std::to_string(aw.out);
  cuda::DeviceScratch<T> tmp(size_t(planes * ah.in * aw.out));
  const int64_t n1 = planes * ah.in * aw.out, n2 = planes * ah.out * aw.out;
  simt::launch(cuda::flat_launch("separable", n1, sizes + ", along W"), axis_map_kernel<T>, maps.w, planes * ah.in,
               int64_t(1), x, tmp.p);
  simt::launch(cuda::flat_launch("separable", n2, sizes + ", along H"), axis_map_kernel<T>, maps.h, planes, aw.out,
               static_cast<const T*>(tmp.p), y);
}

}  // namespace separable_detail
}  // namespace

template <typename T>
void CudaKernels::separable(const SeparableProblem<T>& p) {
  using namespace separable_detail;
  if (p.planes == 0) return;
  if (p.adjoint) apply_maps(transposed(*p.ah), transposed(*p.aw), p.planes, p.x, p.y, "adjoint");
  else apply_maps(*p.ah, *p.aw, p.planes, p.x, p.y, "forward");
}

#define ONENIP_SEPARABLE_INSTANTIATE(T) template void CudaKernels::separable<T>(const SeparableProblem<T>&);
ONENIP_SEPARABLE_INSTANTIATE(float)
ONENIP_SEPARABLE_INSTANTIATE(double)
#undef ONENIP_SEPARABLE_INSTANTIATE

}  // namespace onenip::kernels

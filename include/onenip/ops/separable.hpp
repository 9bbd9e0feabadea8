// Separable linear maps of image planes: y = A_h · x · A_wᵀ for every [H, W] plane of an
// [N, C, H, W] tensor, with A_h [Ho, H] and A_w [Wo, W] sparse. Average pooling, global average
// pooling, bilinear and nearest resizing and Gaussian blur are all such maps; they differ only in
// the two 1-D matrices. The backward is the adjoint, gx = A_hᵀ · g · A_w, so nothing but the two
// small matrices is kept for it.
#pragma once

#include <memory>
#include <vector>

#include "../autograd.hpp"
#include "../core/parallel.hpp"
#include "views.hpp"

namespace onenip {

// A sparse [out, in] matrix, row by row (CSR): row o holds entries [start[o], start[o+1]).
template <typename T>
struct AxisMap {
  int64_t in = 0, out = 0;
  std::vector<int64_t> start{0};
  std::vector<int64_t> idx;
  std::vector<T> w;

  void add(int64_t i, T v) {
    idx.push_back(i);
    w.push_back(v);
  }
  void end_row() {
    start.push_back(int64_t(idx.size()));
    ++out;
  }
};

namespace detail {

// One plane forward: tmp [H, Wo] = x · A_wᵀ (gathers along rows), then y [Ho, Wo] = A_h · tmp
// (whole-row multiply-adds, vectorised).
template <typename T>
void separable_plane(const AxisMap<T>& ah, const AxisMap<T>& aw, const T* x, T* tmp, T* y) {
  const int64_t H = ah.in, W = aw.in, Ho = ah.out, Wo = aw.out;
  for (int64_t h = 0; h < H; ++h) {
    const T* xr = x + h * W;
    T* tr = tmp + h * Wo;
    for (int64_t o = 0; o < Wo; ++o) {
      T s = 0;
      for (int64_t e = aw.start[size_t(o)]; e < aw.start[size_t(o + 1)]; ++e) s += aw.w[size_t(e)] * xr[aw.idx[size_t(e)]];
      tr[o] = s;
    }
  }
  for (int64_t o = 0; o < Ho; ++o) {
    T* __restrict yr = y + o * Wo;
    std::fill(yr, yr + Wo, T(0));
    for (int64_t e = ah.start[size_t(o)]; e < ah.start[size_t(o + 1)]; ++e) {
      const T v = ah.w[size_t(e)];
      const T* __restrict tr = tmp + ah.idx[size_t(e)] * Wo;
      for (int64_t j = 0; j < Wo; ++j) yr[j] += v * tr[j];
    }
  }
}

// One plane adjoint: tmp [H, Wo] = A_hᵀ · g, then gx [H, W] = tmp · A_w.
template <typename T>
void separable_plane_adjoint(const AxisMap<T>& ah, const AxisMap<T>& aw, const T* g, T* tmp, T* gx) {
  const int64_t H = ah.in, W = aw.in, Ho = ah.out, Wo = aw.out;
  std::fill(tmp, tmp + H * Wo, T(0));
  for (int64_t o = 0; o < Ho; ++o) {
    const T* __restrict gr = g + o * Wo;
    for (int64_t e = ah.start[size_t(o)]; e < ah.start[size_t(o + 1)]; ++e) {
      const T v = ah.w[size_t(e)];
      T* __restrict tr = tmp + ah.idx[size_t(e)] * Wo;
      for (int64_t j = 0; j < Wo; ++j) tr[j] += v * gr[j];
    }
  }
  std::fill(gx, gx + H * W, T(0));
  for (int64_t h = 0; h < H; ++h) {
    const T* tr = tmp + h * Wo;
    T* xr = gx + h * W;
    for (int64_t o = 0; o < Wo; ++o)
      for (int64_t e = aw.start[size_t(o)]; e < aw.start[size_t(o + 1)]; ++e) xr[aw.idx[size_t(e)]] += aw.w[size_t(e)] * tr[o];
  }
}

// Apply the map (or its adjoint) to every plane of a contiguous [N, C, *, *] tensor, planes in parallel.
template <typename T>
Tensor<T> separable_apply(const Tensor<T>& x, const AxisMap<T>& ah, const AxisMap<T>& aw, bool adjoint) {
  const int64_t planes = x.size(0) * x.size(1);
  const int64_t in_h = adjoint ? ah.out : ah.in, in_w = adjoint ? aw.out : aw.in;
  const int64_t out_h = adjoint ? ah.in : ah.out, out_w = adjoint ? aw.in : aw.out;
  Tensor<T> y = Tensor<T>::empty({x.size(0), x.size(1), out_h, out_w});
  const int64_t work = int64_t(ah.idx.size()) * aw.out + int64_t(aw.idx.size()) * ah.in + out_h * out_w;
  const T* xp = x.data();
  T* yp = y.data();
  parallel_for(planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, work)), [&](int64_t p0, int64_t p1) {
    std::vector<T> tmp(size_t(ah.in * aw.out));
    for (int64_t p = p0; p < p1; ++p) {
      if (adjoint) separable_plane_adjoint(ah, aw, xp + p * in_h * in_w, tmp.data(), yp + p * out_h * out_w);
      else separable_plane(ah, aw, xp + p * in_h * in_w, tmp.data(), yp + p * out_h * out_w);
    }
  });
  return y;
}

// The differentiable op: y = A_h · x · A_wᵀ per plane of x [N, C, H, W] (any strides: copied to a
// contiguous buffer first). Callers have checked x's rank and that the maps fit its H and W.
template <typename T>
Tensor<T> separable_map(const Tensor<T>& x, std::shared_ptr<const AxisMap<T>> ah, std::shared_ptr<const AxisMap<T>> aw,
                        const char* name) {
  Tensor<T> out = separable_apply(x.detach().contiguous(), *ah, *aw, false);
  return record<T>(out, name, {x}, [ah, aw](const Tensor<T>& g) {
    return std::vector<Tensor<T>>{separable_apply(g.contiguous(), *ah, *aw, true)};
  });
}

}  // namespace detail
}  // namespace onenip

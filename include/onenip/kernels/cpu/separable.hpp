// CPU separable maps: per plane, the column map then the row map (or the adjoint's two steps in
// reverse), planes in parallel, each with its own scratch row buffer.
#pragma once

#include <algorithm>
#include <vector>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

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

template <typename T>
void separable(const SeparableProblem<T>& p) {
  const AxisMap<T>& ah = *p.ah;
  const AxisMap<T>& aw = *p.aw;
  const int64_t in_h = p.adjoint ? ah.out : ah.in, in_w = p.adjoint ? aw.out : aw.in;
  const int64_t out_h = p.adjoint ? ah.in : ah.out, out_w = p.adjoint ? aw.in : aw.out;
  const int64_t work = int64_t(ah.idx.size()) * aw.out + int64_t(aw.idx.size()) * ah.in + out_h * out_w;
  parallel_for(p.planes, std::max<int64_t>(1, 65536 / std::max<int64_t>(1, work)), [&](int64_t p0, int64_t p1) {
    std::vector<T> tmp(size_t(ah.in * aw.out));
    for (int64_t q = p0; q < p1; ++q) {
      if (p.adjoint) separable_plane_adjoint(ah, aw, p.x + q * in_h * in_w, tmp.data(), p.y + q * out_h * out_w);
      else separable_plane(ah, aw, p.x + q * in_h * in_w, tmp.data(), p.y + q * out_h * out_w);
    }
  });
}

}  // namespace onenip::kernels::cpu

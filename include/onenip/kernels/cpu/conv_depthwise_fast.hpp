// Depthwise conv2d fast path for the backbones' shapes: square 3x3 or 5x5 kernels, stride 1 or
// 2, no dilation, padding below the kernel size. Each plane is first copied into a zero-bordered
// buffer so every tap reads inside it (no range checks), and the kernel size and stride are
// compile-time, so an output row is one vectorised loop whose K*K taps accumulate in registers.
//   forward      out = x ⋆ w at stride S
//   grad_input   gx  = g' ⋆ flip(w) at stride 1, where g' is the output gradient spread out by
//                S (zeros between) and bordered by K-1-padding: the adjoint as a plain conv
//   grad_weight  gw[t] = sum over pixels of g * (the input tap t read), per-column partial sums
//                kept in a [K*K, Wo] buffer and reduced once per plane
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>
#include <vector>

#include "../../core/parallel.hpp"

namespace onenip::kernels::cpu {

// A plane in a zero-bordered buffer [rows, S * L]. Source element (h, i) lands at row
// h * up + top, column j = i * up + left; with S = 2 the columns of a row are split by parity
// (column j stored at (j % S) * L + j / S) so a stride-2 read ow * 2 + kj becomes contiguous in ow.
template <int S, typename T>
struct PackedPlane {
  int64_t rows = 0, L = 0;
  std::vector<T> buf;

  PackedPlane(int64_t rows_, int64_t cols) : rows(rows_), L((cols + S - 1) / S), buf(size_t(rows_ * S * L)) {}
  const T* row(int64_t r) const { return buf.data() + r * S * L; }
  void pack(const T* src, int64_t h, int64_t w, int64_t up, int64_t top, int64_t left) {
    std::fill(buf.begin(), buf.end(), T(0));
    for (int64_t r = 0; r < h; ++r) {
      T* dst = buf.data() + (r * up + top) * S * L;
      const T* s = src + r * w;
      if (S == 1) {
        if (up == 1) std::copy(s, s + w, dst + left);
        else for (int64_t i = 0; i < w; ++i) dst[i * up + left] = s[i];
      } else {  // (up is 1 here) phase ph holds columns j = jj * S + ph, i.e. source i = j - left
        for (int64_t ph = 0; ph < S; ++ph) {
          const int64_t jj0 = ceil_div(left - ph, S), jj1 = floor_div(w - 1 + left - ph, S) + 1;
          T* d = dst + ph * L;
          for (int64_t jj = std::max<int64_t>(jj0, 0); jj < jj1; ++jj) d[jj] = s[jj * S + ph - left];
        }
      }
    }
  }
};

// y[ow] = b + sum over taps (ki, kj) of w[ki*K + kj] * x[ki][ow * S + kj], ow < n.
template <int K, int S, typename T>
inline void dw_row_forward(const PackedPlane<S, T>& x, int64_t r0, const T* w, T b, T* __restrict y, int64_t n) {
  const T* rows[K];
  for (int ki = 0; ki < K; ++ki) rows[ki] = x.row(r0 + ki);
  const int64_t L = x.L;
  for (int64_t ow = 0; ow < n; ++ow) {
    T s = b;
#pragma GCC unroll 5
    for (int ki = 0; ki < K; ++ki)
#pragma GCC unroll 5
      for (int kj = 0; kj < K; ++kj) s += w[ki * K + kj] * rows[ki][(kj % S) * L + ow + kj / S];
    y[ow] = s;
  }
}

// acc[t][ow] += g[ow] * x[ki][ow * S + kj] for every tap t = ki*K + kj; acc is [K*K, n].
template <int K, int S, typename T>
inline void dw_row_weight(const PackedPlane<S, T>& x, int64_t r0, const T* __restrict g, T* __restrict acc, int64_t n) {
  const T* rows[K];
  for (int ki = 0; ki < K; ++ki) rows[ki] = x.row(r0 + ki);
  const int64_t L = x.L;
#pragma GCC unroll 5
  for (int ki = 0; ki < K; ++ki)
#pragma GCC unroll 5
    for (int kj = 0; kj < K; ++kj) {
      T* a = acc + (ki * K + kj) * n;
      const T* xr = rows[ki] + (kj % S) * L + kj / S;
      for (int64_t ow = 0; ow < n; ++ow) a[ow] += g[ow] * xr[ow];
    }
}

// Can the fast path take this geometry?
inline bool depthwise_fast_ok(const ConvGeom& g) {
  const int64_t K = g.kh;
  return (K == 3 || K == 5) && g.kw == K && g.dh == 1 && g.dw == 1 && (g.sh == 1 || g.sh == 2) && g.sw == g.sh &&
         std::max({g.pt, g.pb, g.pl, g.pr}) < K && std::min({g.pt, g.pb, g.pl, g.pr}) >= 0;
}

// f(integral_constant K, integral_constant S) for the geometry's kernel and stride.
template <typename F>
void depthwise_fast_dispatch(int64_t K, int64_t S, F&& f) {
  using std::integral_constant;
  if (K == 3 && S == 1) f(integral_constant<int, 3>{}, integral_constant<int, 1>{});
  else if (K == 3 && S == 2) f(integral_constant<int, 3>{}, integral_constant<int, 2>{});
  else if (K == 5 && S == 1) f(integral_constant<int, 5>{}, integral_constant<int, 1>{});
  else f(integral_constant<int, 5>{}, integral_constant<int, 2>{});
}

// Planes of src [N*C, sh, sw] placed as PackedPlane<S>(rows, cols).pack(..., up, top, left), each
// convolved at stride S with its channel's K x K filter w[c] (+ b[c]) into out [N*C, Ho, Wo].
template <int K, int S, typename T>
void dw_fast_conv_planes(int64_t planes, int64_t C, const T* src, int64_t sh, int64_t sw, int64_t up, int64_t top,
                         int64_t left, int64_t rows, int64_t cols, const T* w, const T* b, T* out, int64_t Ho,
                         int64_t Wo) {
  parallel_for(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, Ho * Wo * K)), [&](int64_t p0, int64_t p1) {
    PackedPlane<S, T> x(rows, cols);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t c = p % C;
      x.pack(src + p * sh * sw, sh, sw, up, top, left);
      for (int64_t oh = 0; oh < Ho; ++oh)
        dw_row_forward<K, S>(x, oh * S, w + c * K * K, b ? b[c] : T(0), out + (p * Ho + oh) * Wo, Wo);
    }
  });
}

template <typename T>
void depthwise_fast_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* out) {
  depthwise_fast_dispatch(g.kh, g.sh, [&](auto K, auto S) {
    dw_fast_conv_planes<decltype(K)::value, decltype(S)::value>(g.N * g.C, g.C, x, g.H, g.W, 1, g.pt, g.pl, g.H + g.pt + g.pb, g.W + g.pl + g.pr, w,
                                  b, out, g.Ho, g.Wo);
  });
}

template <typename T>
void depthwise_fast_grad_input(const ConvGeom& g, const T* gout, const T* w, T* gx) {
  const int64_t K = g.kh, KK = K * K;
  std::vector<T> flipped(size_t(g.C * KK));
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t t = 0; t < KK; ++t) flipped[size_t(c * KK + t)] = w[c * KK + KK - 1 - t];
  depthwise_fast_dispatch(K, 1, [&](auto Kc, auto) {
    dw_fast_conv_planes<decltype(Kc)::value, 1>(g.N * g.C, g.C, gout, g.Ho, g.Wo, g.sh, K - 1 - g.pt, K - 1 - g.pl, g.H + K - 1,
                                 g.W + K - 1, flipped.data(), static_cast<const T*>(nullptr), gx, g.H, g.W);
  });
}

template <typename T>
void depthwise_fast_grad_weight(const ConvGeom& g, const T* x, const T* gout, T* gw) {
  const int64_t KK = g.kh * g.kw, P = g.P();
  std::vector<T> part(size_t(g.N * g.C * KK));  // [N, C, K*K]
  depthwise_fast_dispatch(g.kh, g.sh, [&](auto Kc, auto Sc) {
    constexpr int K = decltype(Kc)::value, S = decltype(Sc)::value;
    parallel_for(g.N * g.C, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, P * K)), [&](int64_t p0, int64_t p1) {
      PackedPlane<S, T> xp(g.H + g.pt + g.pb, g.W + g.pl + g.pr);
      std::vector<T> acc(size_t(KK * g.Wo));
      for (int64_t p = p0; p < p1; ++p) {
        xp.pack(x + p * g.H * g.W, g.H, g.W, 1, g.pt, g.pl);
        std::fill(acc.begin(), acc.end(), T(0));
        for (int64_t oh = 0; oh < g.Ho; ++oh) dw_row_weight<K, S>(xp, oh * S, gout + p * P + oh * g.Wo, acc.data(), g.Wo);
        for (int64_t t = 0; t < KK; ++t) {
          T s = 0;
          for (int64_t ow = 0; ow < g.Wo; ++ow) s += acc[size_t(t * g.Wo + ow)];
          part[size_t(p * KK + t)] = s;
        }
      }
    });
  });
  for (int64_t i = 0; i < g.C * KK; ++i) {
    T s = 0;
    for (int64_t n = 0; n < g.N; ++n) s += part[size_t(n * g.C * KK + i)];
    gw[i] = s;
  }
}

}  // namespace onenip::kernels::cpu

// CPU fused inference convolutions, each one parallel region whose epilogue runs on cache-hot
// blocks. The GEMMs run single-threaded inside the region (a multi-threaded GEMM per block would
// synchronise its threads once per block).
#pragma once

#include <Eigen/Core>
#include <optional>
#include <type_traits>

#include "../conv.hpp"

namespace onenip::kernels::cpu {

namespace detail {

// a = act(a), vectorised (Eigen's exp for swish).
template <typename T, typename A>
void activate_array(A&& a, Activation act) {
  if (act == Activation::ReLU6) a = a.max(T(0)).min(T(6));
  else if (act == Activation::Swish) a = a / (T(1) + (-a).exp());  // x * sigmoid(x); -> -0 for very negative x
}

}  // namespace detail

template <typename T>
void activation_inplace(const ActivationProblem<T>& p) {
  if (p.act == Activation::None) return;
  parallel_for(p.n, int64_t(1) << 14, [&](int64_t b, int64_t e) {
    detail::activate_array<T>(Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p.y + b, e - b), p.act);
  });
}

// Column blocks sized to stay in cache, at least one per thread.
template <typename T>
void pointwise_conv_fused(const PointwiseConvProblem<T>& p) {
  const int64_t C = p.C, O = p.O, P = p.P;
  int64_t cols = std::max<int64_t>(64, (int64_t(1) << 17) / (C + O));
  cols = std::min(cols, (P + num_threads() - 1) / num_threads());
  cols = std::max<int64_t>(16, (cols + 15) / 16 * 16);
  const int64_t blocks = (P + cols - 1) / cols;
  T* out = p.y;
  // Y[O, n] += W[O, C] X[C, n] for a block of n columns. Float weights are packed once for all
  // blocks (the blocks of late layers are a few dozen columns: packing W per block cost as much
  // as the product).
  std::optional<packed::PackedA> w_packed;
  if constexpr (packed::kUsedFor<T>) w_packed.emplace(p.w, C, 1, O, C);
  auto product = [&](int64_t c0, int64_t n) {
    if constexpr (packed::kUsedFor<T>)
      packed::gemm_serial(*w_packed, n, p.x + c0, P, 1, out + c0, P, true);
    else
      gemm_rm(false, false, O, n, C, p.w, C, p.x + c0, P, out + c0, P, true);
  };
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t c0 = b * cols, n = std::min(cols, P - c0);
      // Start from the bias: "= W X" would zero the block first anyway.
      for (int64_t o = 0; o < O; ++o) std::fill(out + o * P + c0, out + o * P + c0 + n, p.bias[o]);
      product(c0, n);
      for (int64_t o = 0; o < O; ++o) {
        auto row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out + o * P + c0, n);
        detail::activate_array<T>(row, p.act);
        if (p.residual) row += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(p.residual + o * P + c0, n);
      }
    }
  });
}

// Channel ranges in parallel, each a depthwise conv of its own.
template <typename T>
void depthwise_conv_fused(const DepthwiseConvProblem<T>& p) {
  const ConvGeom& whole = p.geom;
  const int64_t P = whole.P(), HW = whole.H * whole.W, KK = whole.kh * whole.kw;
  parallel_for(whole.C, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * KK)), [&](int64_t c0, int64_t c1) {
    ConvGeom g = whole;  // the channel range [c0, c1) as a conv of its own
    g.C = g.O = g.groups = c1 - c0;
    depthwise_forward(g, p.x + c0 * HW, p.w + c0 * KK, p.bias + c0, p.y + c0 * P);
    for (int64_t c = c0; c < c1; ++c) {
      auto plane = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p.y + c * P, P);
      detail::activate_array<T>(plane, p.act);
      if (p.means) p.means[c] = plane.mean();
    }
  });
}

template <typename T>
void squeeze_excite_gate(const SqueezeExciteProblem<T>& p) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  const int64_t C = p.C, S = p.S;
  Vec h = Eigen::Map<const Mat>(p.w1, S, C) * Eigen::Map<const Vec>(p.means, C) + Eigen::Map<const Vec>(p.b1, S);
  h.array() = h.array() / (T(1) + (-h.array()).exp());
  Eigen::Map<Vec> g(p.gate, C);
  g = Eigen::Map<const Mat>(p.w2, C, S) * h + Eigen::Map<const Vec>(p.b2, C);
  g.array() = T(1) / (T(1) + (-g.array()).exp());
}

template <typename T>
void scale_columns(const ScaleColumnsProblem<T>& p) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<Mat>(p.out, p.rows, p.cols) =
      Eigen::Map<const Mat>(p.w, p.rows, p.cols) *
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(p.scale, p.cols).asDiagonal();
}

}  // namespace onenip::kernels::cpu

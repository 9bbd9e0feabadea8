// Inference kernels of the folded (fast) backbone path, one image [C, H, W] at a time, each a
// single parallel region whose epilogue runs on cache-hot blocks:
//   pointwise_fused: 1x1 conv as a GEMM over column blocks, + bias, activation, + residual
//   depthwise_fused: the conv library's depthwise kernel over channel ranges, + activation, and
//                    the per-channel means squeeze-excitation needs
// The GEMMs run single-threaded inside the region (Eigen's own multi-threaded GEMM spin-waits
// between its threads, which collapses on a machine shared with other work).
#pragma once

#include "../ops/conv.hpp"

namespace onenip::models {

enum class Activation { None, ReLU6, Swish };

namespace detail {

// a = act(a), vectorised (Eigen's exp for swish).
template <typename T, typename A>
void activate_array(A&& a, Activation act) {
  if (act == Activation::ReLU6) a = a.max(T(0)).min(T(6));
  else if (act == Activation::Swish) a = a / (T(1) + (-a).exp());  // x * sigmoid(x); -> -0 for very negative x
}

// y = act(y) in place over a contiguous tensor, chunks in parallel.
template <typename T>
void activate_inplace(const Tensor<T>& y, Activation act) {
  if (act == Activation::None) return;
  T* p = y.data();
  parallel_for(y.numel(), int64_t(1) << 14, [&](int64_t b, int64_t e) {
    activate_array<T>(Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(p + b, e - b), act);
  });
}

// out [O, P] = act(w [O, C] @ x [C, P] + bias [O]) (+ residual [O, P] after the activation).
// Column blocks sized to stay in cache, at least one per thread.
template <typename T>
void pointwise_fused(const T* x, const T* w, const T* bias, const T* residual, T* out, int64_t C, int64_t O, int64_t P,
                     Activation act) {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  int64_t cols = std::max<int64_t>(64, (int64_t(1) << 17) / (C + O));
  cols = std::min(cols, (P + num_threads() - 1) / num_threads());
  cols = std::max<int64_t>(16, (cols + 15) / 16 * 16);
  const int64_t blocks = (P + cols - 1) / cols;
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    Eigen::Map<const RowMat> W(w, O, C);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t c0 = b * cols, n = std::min(cols, P - c0);
      Eigen::Map<RowMat, 0, Stride> Y(out + c0, O, n, Stride(P));
      // Start from the bias: "= W X" would zero the block first anyway.
      for (int64_t o = 0; o < O; ++o) std::fill(out + o * P + c0, out + o * P + c0 + n, bias[o]);
      Y.noalias() += W * Eigen::Map<const RowMat, 0, Stride>(x + c0, C, n, Stride(P));
      for (int64_t o = 0; o < O; ++o) {
        auto row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out + o * P + c0, n);
        activate_array<T>(row, act);
        if (residual) row += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(residual + o * P + c0, n);
      }
    }
  });
}

// Depthwise kxk conv of one image x [C, H, W] -> out [C, Ho, Wo], + bias, activation; when
// `means` is given, also the mean of every output plane. Padding: top, bottom, left, right.
template <typename T>
void depthwise_fused(const T* x, const T* w, const T* bias, T* out, T* means, int64_t C, int64_t H, int64_t W,
                     int64_t k, int64_t stride, std::array<int64_t, 4> pad, Activation act) {
  const onenip::detail::ConvGeom whole =
      onenip::detail::conv_geometry("depthwise conv", {1, C, H, W}, {C, 1, k, k}, {stride, stride}, pad, {1, 1}, C);
  const int64_t P = whole.P();
  parallel_for(C, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, P * k * k)), [&](int64_t c0, int64_t c1) {
    onenip::detail::ConvGeom g = whole;  // the channel range [c0, c1) as a conv of its own
    g.C = g.O = g.groups = c1 - c0;
    onenip::detail::depthwise_forward(g, x + c0 * H * W, w + c0 * k * k, bias + c0, out + c0 * P);
    for (int64_t c = c0; c < c1; ++c) {
      auto plane = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out + c * P, P);
      activate_array<T>(plane, act);
      if (means) means[c] = plane.mean();
    }
  });
}

}  // namespace detail
}  // namespace onenip::models

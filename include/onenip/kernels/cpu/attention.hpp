// The CPU fused attention (flash-attention style): no Tq x Tk matrix is ever materialised, only
// per-tile scratch.
//
// Forward, per (batch, head, query block): stream over key blocks with an online softmax
// (running row max m and sum l, output rescaled when m grows), two small Eigen GEMMs per
// tile (S = scale Q K^T, O += P V). Keeps only the output and the row logsumexp for backward.
// Backward, per (batch, head) (and key-block group when there are few heads): recompute
// P = exp(S - lse) tile by tile and form
//   dV += Pd^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(dO * O)),  dQ += scale dS K,  dK += scale dS^T Q
// (Pd = P with dropout applied; the dropout mask is regenerated from its Philox counters).
// Rows whose keys are all masked: output 0, lse = +inf, P = 0 in backward, so zero gradient.
// Float at head dims 32, 64 and 128 takes the register-blocked kernels of attention_lanes.hpp;
// this file's Eigen tiles serve double (the gradient checks) and other head dims.
#pragma once

#include <Eigen/Core>
#include <limits>
#include <type_traits>
#include <vector>

#include "../../core/parallel.hpp"
#include "../softmax.hpp"
#include "attention_lanes.hpp"
#include "random.hpp"
#include "scratch.hpp"

namespace onenip::kernels::cpu {

// The CPU kernel's tiles: query blocks of ~64 rows, key blocks of up to 256 (all keys at the
// model's T = 196), sizes balanced so the last block is not a sliver.
struct AttnTiles {
  static constexpr int64_t kQueryBlock = 64, kKeyBlock = 256;
  int64_t nq, nk, bq, bk;
  AttnTiles(int64_t Tq, int64_t Tk)
      : nq((Tq + kQueryBlock - 1) / kQueryBlock), nk((Tk + kKeyBlock - 1) / kKeyBlock),
        bq((Tq + nq - 1) / nq), bk((Tk + nk - 1) / nk) {}
};

// S[r, :] += mask[b, h, i0 + r, j0 : j0 + cols] for every row r. (`inline`: GCC inlines
// functions declared inline more readily, and these belong in the tile loops.)
template <typename T, typename M>
inline void add_mask(const AttentionProblem<T>& P, M& S, int64_t b, int64_t h, int64_t i0, int64_t j0) {
  if (!P.mask) return;
  const T* base = P.mask + b * P.mb + h * P.mh + j0 * P.mj;
  for (int64_t r = 0; r < S.rows(); ++r) {
    const T* row = base + (i0 + r) * P.mi;
    if (P.mj == 1) S.row(r) += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(row, S.cols());
    else if (P.mj == 0) S.row(r).array() += *row;
    else S.row(r) += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>, 0, Eigen::InnerStride<>>(
                         row, S.cols(), Eigen::InnerStride<>(P.mj));
  }
}

// Multiply row r of X by the dropout factors of elements [bh, i0 + r, j0 : j0 + cols].
template <typename T, typename M>
inline void drop_row(const AttentionProblem<T>& P, M& X, int64_t r, int64_t bh, int64_t i0, int64_t j0, T* f) {
  int64_t cols = X.cols();
  dropout_factors(*P.drop, (bh * P.Tq + i0 + r) * P.Tk + j0, cols, P.drop_scale, f);
  X.row(r).array() *= Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(f, cols);
}

template <typename T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using RowMap = Eigen::Map<RowMat<T>>;
template <typename T> using StridedRows = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T> using MutableRows = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

// Rows t0 .. t0 + rows of x's (b, h) as an Eigen matrix of `cols` columns (read-only for an
// operand, writable for a result).
template <typename Ptr>
auto rows_of(const AttnRows<Ptr>& x, int64_t t0, int64_t rows, int64_t cols) {
  using T = std::remove_const_t<std::remove_pointer_t<Ptr>>;
  using Map = std::conditional_t<std::is_const_v<std::remove_pointer_t<Ptr>>, StridedRows<T>, MutableRows<T>>;
  return Map(x.row(t0), rows, cols, Eigen::OuterStride<>(x.ld));
}
template <typename Ptr>
auto rows_of(const AttnStrided<Ptr>& x, int64_t b, int64_t h, int64_t t0, int64_t rows, int64_t cols) {
  return rows_of(x.head(b, h), t0, rows, cols);
}

template <typename T>
void attention(const AttentionProblem<T>& P) {
  if constexpr (std::is_same_v<T, float>)
    if (lanes::supported(P)) return lanes::attention(P);
  const AttnTiles tiles(P.Tq, P.Tk);
  const int64_t nq = tiles.nq, nk = tiles.nk, BQ = tiles.bq, BK = tiles.bk;
  T* lse = P.lse;
  const T inf = std::numeric_limits<T>::infinity();
  // Work items: (batch, head, query block); tiny problems stay on one thread.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(BQ * P.Tk * (P.D + P.Dv), 1));
  parallel_for(P.B * P.H * nq, grain, [&](int64_t w0, int64_t w1) {
    Scratch<T> s_buf(static_cast<size_t>(BQ * BK)), p_buf(static_cast<size_t>(BQ * BK)), f(static_cast<size_t>(BK));
    std::vector<T> m(static_cast<size_t>(BQ)), l(static_cast<size_t>(BQ));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t bh = w / nq, b = bh / P.H, h = bh % P.H, i0 = (w % nq) * BQ, bq = std::min(BQ, P.Tq - i0);
      auto Q = rows_of(P.q, b, h, i0, bq, P.D);
      auto O = rows_of(P.out, b, h, i0, bq, P.Dv);
      O.setZero();
      std::fill(m.begin(), m.end(), -inf);
      std::fill(l.begin(), l.end(), T(0));
      for (int64_t kb = 0; kb < nk; ++kb) {
        const int64_t j0 = kb * BK, bk = std::min(BK, P.Tk - j0);
        auto K = rows_of(P.k, b, h, j0, bk, P.D);
        auto V = rows_of(P.v, b, h, j0, bk, P.Dv);
        RowMap<T> S(s_buf.data(), bq, bk), W(p_buf.data(), bq, bk);
        S.noalias() = P.scale * (Q * K.transpose());
        add_mask(P, S, b, h, i0, j0);
        for (int64_t r = 0; r < bq; ++r) {
          // Online softmax: weights relative to the running max; earlier ones rescaled by corr.
          T m_new = std::max(m[size_t(r)], S.row(r).maxCoeff());
          if (m_new == -inf) {  // every key so far masked: nothing to add
            W.row(r).setZero();
            continue;
          }
          exp_masked(&S(r, 0), &W(r, 0), bk, m_new);
          if (m[size_t(r)] == -inf) {  // first tile with an unmasked key: nothing to rescale
            l[size_t(r)] = W.row(r).sum();
          } else {
            T corr = std::exp(m[size_t(r)] - m_new);
            l[size_t(r)] = l[size_t(r)] * corr + W.row(r).sum();
            if (corr != T(1)) O.row(r) *= corr;
          }
          m[size_t(r)] = m_new;
          if (P.drop) drop_row(P, W, r, bh, i0, j0, f.data());  // l uses the undropped weights
        }
        O.noalias() += W * V;
      }
      for (int64_t r = 0; r < bq; ++r) {
        T lr = l[size_t(r)];
        if (lr > T(0)) {
          O.row(r) /= lr;
          lse[bh * P.Tq + i0 + r] = m[size_t(r)] + std::log(lr);
        } else {  // every key masked
          O.row(r).setZero();
          lse[bh * P.Tq + i0 + r] = inf;
        }
      }
    }
  });
}

// Key groups per (batch, head) in backward: 1 when there are enough heads to keep every core
// busy; otherwise the key blocks are split and each group accumulates dq into its own buffer
// (summed in a fixed order, so the result does not depend on the thread count). The rule
// depends on the problem only, and caps the buffers at 2^24 elements.
template <typename T>
int64_t backward_key_groups(const AttentionProblem<T>& P) {
  int64_t bh = P.B * P.H, g = std::min<int64_t>(AttnTiles(P.Tq, P.Tk).nk, std::max<int64_t>(1, 64 / std::max<int64_t>(bh, 1)));
  int64_t per_group = bh * P.Tq * P.D;
  return std::max<int64_t>(1, std::min<int64_t>(g, (int64_t(1) << 24) / std::max<int64_t>(per_group, 1)));
}

// Backward of work items (batch, head, key group g of G) on Eigen tiles; dq_of(w): item w's dq.
template <typename T, typename DqOf>
void attention_backward_tiles(const AttentionProblem<T>& P, const T* drow, int64_t G, DqOf&& dq_of) {
  const AttnTiles tiles(P.Tq, P.Tk);
  const int64_t nq = tiles.nq, nk = tiles.nk, BQ = tiles.bq, BK = tiles.bk;
  const T* lse = P.lse;
  // Work items: (batch, head, key group), each owning its slices of dk, dv and its dq.
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(P.Tq * P.Tk / G * (P.D + P.Dv), 1));
  parallel_for(P.B * P.H * G, grain, [&](int64_t w0, int64_t w1) {
    const size_t tile = static_cast<size_t>(BQ * BK);
    Scratch<T> s_buf(tile), p_buf(tile), dp_buf(tile), pd_buf(P.drop ? tile : 0), f(static_cast<size_t>(BK));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t bh = w / G, g = w % G, b = bh / P.H, h = bh % P.H;
      const int64_t kb0 = nk * g / G, kb1 = nk * (g + 1) / G;
      const AttnRows<T*> dqg = dq_of(w);
      rows_of(dqg, 0, P.Tq, P.D).setZero();
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t j0 = kb * BK, bk = std::min(BK, P.Tk - j0);
        auto K = rows_of(P.k, b, h, j0, bk, P.D);
        auto V = rows_of(P.v, b, h, j0, bk, P.Dv);
        auto dK = rows_of(P.dk, b, h, j0, bk, P.D);
        auto dV = rows_of(P.dv, b, h, j0, bk, P.Dv);
        dK.setZero(), dV.setZero();
        for (int64_t qb = 0; qb < nq; ++qb) {
          const int64_t i0 = qb * BQ, bq = std::min(BQ, P.Tq - i0);
          auto Q = rows_of(P.q, b, h, i0, bq, P.D);
          auto dO = rows_of(P.grad_out, b, h, i0, bq, P.Dv);
          auto dQ = rows_of(dqg, i0, bq, P.D);
          RowMap<T> S(s_buf.data(), bq, bk), Pm(p_buf.data(), bq, bk), dP(dp_buf.data(), bq, bk);
          S.noalias() = P.scale * (Q * K.transpose());
          add_mask(P, S, b, h, i0, j0);
          const T* lse_r = lse + bh * P.Tq + i0;
          for (int64_t r = 0; r < bq; ++r) {
            if (lse_r[r] == std::numeric_limits<T>::infinity()) Pm.row(r).setZero();  // every key masked
            else exp_masked(&S(r, 0), &Pm(r, 0), bk, lse_r[r]);
          }
          dP.noalias() = dO * V.transpose();
          if (P.drop) {
            RowMap<T> Pd(pd_buf.data(), bq, bk);
            Pd = Pm;
            for (int64_t r = 0; r < bq; ++r) {
              drop_row(P, Pd, r, bh, i0, j0, f.data());
              dP.row(r).array() *= Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(f.data(), bk);
            }
            dV.noalias() += Pd.transpose() * dO;
          } else {
            dV.noalias() += Pm.transpose() * dO;
          }
          const T* dr = drow + bh * P.Tq + i0;
          for (int64_t r = 0; r < bq; ++r)  // dS, in place of dP
            dP.row(r) = (Pm.row(r).array() * (dP.row(r).array() - dr[r])).matrix();
          dQ.noalias() += P.scale * (dP * K);
          dK.noalias() += P.scale * (dP.transpose() * Q);
        }
      }
    }
  });
}

// The backward's work items: on the float kernels with the queries in the lanes where they
// apply, else on Eigen tiles.
template <typename T, typename DqOf>
void attention_backward_items(const AttentionProblem<T>& P, const T* drow, int64_t G, DqOf&& dq_of) {
  if constexpr (std::is_same_v<T, float>)
    if (lanes::supported(P)) return lanes::attention_backward(P, drow, G, dq_of);
  attention_backward_tiles(P, drow, G, dq_of);
}

// rowsum(dO * O) = rowsum(dP * P) (dropout included): the softmax backward's correction.
template <typename T>
Scratch<T> output_grad_dots(const AttentionProblem<T>& P) {
  Scratch<T> drow(static_cast<size_t>(P.B * P.H * P.Tq));
  parallel_for(P.B * P.H * P.Tq, std::max<int64_t>(1, 16384 / std::max<int64_t>(P.Dv, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / P.Tq, b = bh / P.H, h = bh % P.H, i = r % P.Tq;
      const T* go = P.grad_out.at(b, h, i);
      const T* o = P.out.at(b, h, i);
      T acc = 0;
      for (int64_t d = 0; d < P.Dv; ++d) acc += go[d] * o[d];
      drow[size_t(r)] = acc;
    }
  });
  return drow;
}

template <typename T>
void attention_backward(const AttentionProblem<T>& P) {
  const int64_t BH = P.B * P.H, G = backward_key_groups(P);
  const Scratch<T> drow = output_grad_dots(P);
  // dq of group g of (b, h): dq's rows when G == 1, else a [Tq, D] buffer.
  PooledScratch<T> dq_groups(G > 1 ? static_cast<size_t>(BH * G * P.Tq * P.D) : 0);
  auto dq_of = [&](int64_t w) {
    return G > 1 ? AttnRows<T*>{dq_groups.data() + w * P.Tq * P.D, P.D} : P.dq.head(w / P.H, w % P.H);
  };
  attention_backward_items(P, drow.data(), G, dq_of);
  if (G == 1) return;
  parallel_for(BH * P.Tq, std::max<int64_t>(1, 16384 / std::max<int64_t>(P.D * G, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t bh = r / P.Tq, i = r % P.Tq;
      T* out = P.dq.at(bh / P.H, bh % P.H, i);
      std::fill(out, out + P.D, T(0));
      for (int64_t g = 0; g < G; ++g) {
        const T* part = dq_groups.data() + ((bh * G + g) * P.Tq + i) * P.D;
        for (int64_t d = 0; d < P.D; ++d) out[d] += part[d];
      }
    }
  });
}

}  // namespace onenip::kernels::cpu

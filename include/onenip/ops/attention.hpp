/// \file
/// Scaled dot-product attention: softmax(scale Q K^T + mask) V, with attention-weight dropout.
///
///   q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] -> [B, H, Tq, Dv]
///   the output laid out as q is (the heads of [B, Tq, H D] give [B, Tq, H, Dv] in memory), the
///   gradients as q, k, v are, when those are dense in some order of their dims; else contiguous
///   mask: additive, broadcastable to [B, H, Tq, Tk] (typically [Tq, Tk]; -inf blocks a key), or undefined
///   dropout on the attention weights with probability dropout_p when gen != nullptr
///   scale: 1/sqrt(D) when negative (the default)
///
/// scaled_dot_product_attention is the fused op (kernels/attention.hpp: online softmax over key
/// tiles, hand-written backward, O(T) memory for backward). attention_composite is the
/// reference built from matmul + softmax + dropout + matmul, materialising the Tq x Tk matrix.
/// Both draw the same dropout mask from the same generator state and leave the generator in
/// the same state. Rows with every key masked give 0 and zero gradient in both (PyTorch: NaN).
#pragma once

#include <cmath>

#include "../kernels/attention.hpp"
#include "dropout.hpp"
#include "matmul.hpp"
#include "softmax.hpp"

namespace onenip {

namespace detail {

// Validates the arguments; returns the scale to use.
template <typename T>
T check_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& mask,
                  double dropout_p, double scale, const char* op) {
  ONENIP_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must be defined");
  ONENIP_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op, ": q, k, v must be [B, H, T, D]; got q ",
               shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  ONENIP_CHECK(q.size(0) == k.size(0) && q.size(0) == v.size(0) && q.size(1) == k.size(1) && q.size(1) == v.size(1),
               op, ": q, k, v must share [B, H]; got q ", shape_str(q.shape()), ", k ", shape_str(k.shape()), ", v ",
               shape_str(v.shape()));
  ONENIP_CHECK(q.size(3) == k.size(3), op, ": q and k must have the same head dim; got q ", shape_str(q.shape()),
               ", k ", shape_str(k.shape()));
  ONENIP_CHECK(k.size(2) == v.size(2), op, ": k and v must have the same number of keys; got k ",
               shape_str(k.shape()), ", v ", shape_str(v.shape()));
  if (mask.defined()) {
    Shape full{q.size(0), q.size(1), q.size(2), k.size(2)};
    bool ok = mask.dim() <= 4;
    for (int64_t i = 0; ok && i < mask.dim(); ++i) {
      int64_t m = mask.shape()[size_t(i)], f = full[size_t(4 - mask.dim() + i)];
      ok = m == f || m == 1;
    }
    ONENIP_CHECK(ok, op, ": mask ", shape_str(mask.shape()), " does not broadcast to the scores' ", shape_str(full));
  }
  ONENIP_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, op, ": dropout_p must be in [0, 1], got ", dropout_p);
  return scale < 0 ? T(1.0 / std::sqrt(double(std::max<int64_t>(q.size(3), 1)))) : T(scale);
}

// The tensor with unit stride along its last dim (copied only if it has not).
template <typename T>
Tensor<T> unit_last_stride(const Tensor<T>& t) {
  return (t.stride(-1) == 1 || t.size(-1) == 1) ? t : t.contiguous();
}

template <typename T>
kernels::AttnOperand<T> attn_operand(const Tensor<T>& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}
template <typename T>
kernels::AttnResult<T> attn_result(const Tensor<T>& t) {
  return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)};
}

// An uninitialised [B, H, T, d] tensor laid out as x ([B, H, T, D]) is when x is dense in some
// order of its dims (the model's q, k, v are heads of [B, T, H D]: [B, T, H, D] permuted), else
// contiguous. The attention's output and gradients take their inputs' layouts, as PyTorch's do:
// the permute and view that split the heads then join them again without a copy, both ways.
template <typename T>
Tensor<T> empty_in_layout_of(const Tensor<T>& x, int64_t d, Device device) {
  Shape order{0, 1, 2};  // the outer dims, outermost (largest stride) first; d stays innermost
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return x.stride(a) > x.stride(b); });
  bool dense = x.stride(3) == 1 || x.size(3) == 1;
  for (int64_t i = 2, expect = x.size(3); dense && i >= 0; expect *= x.size(order[size_t(i)]), --i)
    dense = x.size(order[size_t(i)]) == 1 || x.stride(order[size_t(i)]) == expect;
  if (!dense) order = {0, 1, 2};
  Tensor<T> laid = Tensor<T>::empty({x.size(order[0]), x.size(order[1]), x.size(order[2]), d}, device);
  Shape back(4);  // the permute back to [B, H, T, d]: dim order[i] of the result is dim i of laid
  for (int64_t i = 0; i < 3; ++i) back[size_t(order[size_t(i)])] = i;
  back[3] = 3;
  return laid.permute(back);
}

}  // namespace detail

/// The UniAD / OneNIP neighbour mask for an h x w token grid (row-major tokens): [h*w, h*w],
/// -inf where |r - r'| <= n/2 and |c - c'| <= n/2 (the token itself included), 0 elsewhere.
template <typename T>
Tensor<T> neighbour_mask(int64_t h, int64_t w, int64_t n) {
  ONENIP_CHECK(h > 0 && w > 0 && n >= 0, "neighbour_mask: need h, w > 0 and n >= 0; got h ", h, ", w ", w, ", n ", n);
  const int64_t T_ = h * w, half = n / 2;
  Tensor<T> m = Tensor<T>::empty({T_, T_});  // built on the host
  T* p = m.data();
  for (int64_t i = 0; i < T_; ++i)
    for (int64_t j = 0; j < T_; ++j)
      p[i * T_ + j] = (std::abs(i / w - j / w) <= half && std::abs(i % w - j % w) <= half)
                          ? -std::numeric_limits<T>::infinity()
                          : T(0);
  return m;
}

/// Reference attention from differentiable primitives (materialises the [B, H, Tq, Tk] weights).
template <typename T>
Tensor<T> attention_composite(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v, const Tensor<T>& mask = {},
                              double dropout_p = 0, Generator* gen = nullptr, double scale = -1) {
  T s = detail::check_attention(q, k, v, mask, dropout_p, scale, "attention_composite");
  Tensor<T> scores = mul(matmul(q, k.transpose(-1, -2)), s);
  if (mask.defined()) scores = add(scores, mask);
  Tensor<T> weights = softmax(scores, -1);
  if (gen && dropout_p > 0) weights = dropout(weights, dropout_p, true, *gen);
  return matmul(weights, v);
}

/// Fused attention (see the top of the file). A mask that requires grad goes through the
/// composite, since its gradient is a full [.., Tq, Tk] matrix.
template <typename T>
Tensor<T> scaled_dot_product_attention(const Tensor<T>& q, const Tensor<T>& k, const Tensor<T>& v,
                                       const Tensor<T>& mask = {}, double dropout_p = 0, Generator* gen = nullptr,
                                       double scale = -1) {
  T s = detail::check_attention(q, k, v, mask, dropout_p, scale, "scaled_dot_product_attention");
  if (mask.defined() && any_requires_grad<T>({&mask})) return attention_composite(q, k, v, mask, dropout_p, gen, scale);
  const Device device = kernels::common_device<T>("scaled_dot_product_attention", {&q, &k, &v, &mask});
  Tensor<T> qd = detail::unit_last_stride(q.detach()), kd = detail::unit_last_stride(k.detach()),
            vd = detail::unit_last_stride(v.detach());
  Tensor<T> md = mask.defined() ? mask.detach() : Tensor<T>();

  kernels::AttentionProblem<T> P;
  P.device = device;
  P.B = q.size(0), P.H = q.size(1), P.Tq = q.size(2), P.Tk = k.size(2), P.D = q.size(3), P.Dv = v.size(3);
  P.scale = s;
  P.precision = detail::gemm_precision<T>();  // the products follow set_matmul_precision, as matmul does
  std::shared_ptr<kernels::DropoutMask> drop;
  if (gen && dropout_p > 0) {
    drop = std::make_shared<kernels::DropoutMask>(*gen, dropout_p, P.B * P.H * P.Tq * P.Tk, P.B);
    P.drop_scale = drop->scale<T>();
  }
  // Binds the raw pointers of one set of operands (forward and backward use the same ones).
  auto bind = [P, drop](const Tensor<T>& qd, const Tensor<T>& kd, const Tensor<T>& vd, const Tensor<T>& md) {
    kernels::AttentionProblem<T> p = P;
    p.q = detail::attn_operand(qd), p.k = detail::attn_operand(kd), p.v = detail::attn_operand(vd);
    p.drop = drop.get();
    if (md.defined()) {
      Shape full{p.B, p.H, p.Tq, p.Tk};
      Shape st = broadcast_strides(md.shape(), md.strides(), full);
      p.mask = md.data_ptr(), p.mb = st[0], p.mh = st[1], p.mi = st[2], p.mj = st[3];
    }
    return p;
  };

  Tensor<T> out = detail::empty_in_layout_of(qd, P.Dv, device);
  Tensor<T> lse = Tensor<T>::empty({P.B, P.H, P.Tq}, device);
  if (out.numel() > 0) {
    if (P.Tk == 0) {
      out.zero_(), lse.fill_(std::numeric_limits<T>::infinity());
    } else {
      kernels::AttentionProblem<T> p = bind(qd, kd, vd, md);
      p.out = detail::attn_result(out), p.lse = lse.data_ptr();
      kernels::attention(p);
    }
  }
  if (!any_requires_grad<T>({&q, &k, &v})) return out;

  const char* name = "ScaledDotProductAttention";
  SavedTensor<T> sq(qd, name), sk(kd, name), sv(vd, name), sm(md, name), so(out.detach(), name);
  return record<T>(out, name, {q, k, v}, [sq, sk, sv, sm, so, lse, bind](const Tensor<T>& g) {
    Tensor<T> qd = sq.get(), kd = sk.get(), vd = sv.get(), od = so.get(), gu = detail::unit_last_stride(g);
    Tensor<T> dq = detail::empty_in_layout_of(qd, qd.size(3), qd.device()),
              dk = detail::empty_in_layout_of(kd, kd.size(3), kd.device()),
              dv = detail::empty_in_layout_of(vd, vd.size(3), vd.device());
    if (g.numel() > 0 && kd.size(2) > 0) {
      kernels::AttentionProblem<T> p = bind(qd, kd, vd, sm.get());
      p.out = detail::attn_result(od), p.lse = lse.data_ptr(), p.grad_out = detail::attn_operand(gu);
      p.dq = detail::attn_result(dq), p.dk = detail::attn_result(dk), p.dv = detail::attn_result(dv);
      kernels::attention_backward(p);
    } else {
      dq.zero_(), dk.zero_(), dv.zero_();
    }
    return std::vector<Tensor<T>>{dq, dk, dv};
  });
}

}  // namespace onenip

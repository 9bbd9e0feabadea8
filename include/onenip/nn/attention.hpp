/// \file
/// Multi-head attention with PyTorch's packed in-projection (in_proj_weight [3E, E] = [Wq; Wk; Wv],
/// in_proj_bias [3E], out_proj = Linear(E, E)), so nn.MultiheadAttention state dicts load as they are.
/// Batch-first: [N, L, E] (PyTorch's default is sequence-first; the weights are the same).
/// Positional terms are added to the query and key inputs, never to the values (DETR style).
#pragma once

#include "../ops/attention.hpp"
#include "layers.hpp"

namespace onenip::nn {

/// Multi-head attention with PyTorch's packed in-projection, batch-first [N, L, E].
template <typename T>
class MultiheadAttention : public Module<T> {
public:
  Tensor<T> in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear<T>> out_proj;
  int64_t embed_dim, num_heads;
  double dropout_p;

  MultiheadAttention(int64_t embed, int64_t heads, double dropout, std::shared_ptr<Generator> dropout_gen,
                     Generator& init_gen)
      : embed_dim(embed), num_heads(heads), dropout_p(dropout), gen_(std::move(dropout_gen)) {
    ONENIP_CHECK(heads > 0 && embed % heads == 0, "MultiheadAttention: embed dim ", embed,
                 " is not divisible by ", heads, " heads");
    in_proj_weight = this->register_parameter("in_proj_weight", Tensor<T>::empty({3 * embed, embed}));
    in_proj_bias = this->register_parameter("in_proj_bias", zeros<T>({3 * embed}));
    out_proj = this->register_module("out_proj", std::make_shared<Linear<T>>(embed, embed, true, init_gen));
    // PyTorch: xavier_uniform over the packed matrix, zero biases (out_proj's bias too).
    init::xavier_uniform_(in_proj_weight, init_gen);
    init::zeros_(out_proj->bias);
  }

  /// query [N, Lq, E], key_value [N, Lk, E]; pos_q [Lq, E] / pos_k [Lk, E] (or broadcastable, or
  /// undefined); mask additive, broadcastable to [N, heads, Lq, Lk], or undefined. -> [N, Lq, E]
  Tensor<T> forward(const Tensor<T>& query, const Tensor<T>& key_value, const Tensor<T>& pos_q,
                    const Tensor<T>& pos_k, const Tensor<T>& mask = {}) const {
    ONENIP_CHECK(query.dim() == 3 && key_value.dim() == 3 && query.size(2) == embed_dim &&
                     key_value.size(2) == embed_dim && query.size(0) == key_value.size(0),
                 "MultiheadAttention: query ", shape_str(query.shape()), " and key/value ",
                 shape_str(key_value.shape()), " must be [N, L, ", embed_dim, "] with the same N");
    const int64_t E = embed_dim;
    Tensor<T> q_in = pos_q.defined() ? query + pos_q : query;
    Tensor<T> k_in = pos_k.defined() ? key_value + pos_k : key_value;
    Tensor<T> q = heads(linear(q_in, in_proj_weight.narrow(0, 0, E), in_proj_bias.narrow(0, 0, E)));
    Tensor<T> k = heads(linear(k_in, in_proj_weight.narrow(0, E, E), in_proj_bias.narrow(0, E, E)));
    Tensor<T> v = heads(linear(key_value, in_proj_weight.narrow(0, 2 * E, E), in_proj_bias.narrow(0, 2 * E, E)));
    bool drop = this->is_training() && dropout_p > 0;
    Tensor<T> o = scaled_dot_product_attention(q, k, v, mask, drop ? dropout_p : 0.0, drop ? gen_.get() : nullptr);
    // [N, H, Lq, Dh] -> [N, Lq, E]: a view, the output being laid out as q, the heads of [N, Lq, E]
    o = o.permute({0, 2, 1, 3}).reshape({query.size(0), query.size(1), E});
    return out_proj->forward(o);
  }

private:
  /// [N, L, E] -> [N, H, L, E/H] (a view)
  Tensor<T> heads(const Tensor<T>& x) const {
    return x.view({x.size(0), x.size(1), num_heads, embed_dim / num_heads}).permute({0, 2, 1, 3});
  }
  std::shared_ptr<Generator> gen_;
};

}  // namespace onenip::nn

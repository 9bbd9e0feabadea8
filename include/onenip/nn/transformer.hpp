/// \file
/// A post-norm transformer encoder layer (DETR style; positional terms on queries and keys):
///   a = MHA(q = x + pos, k = x + pos, v = x, mask);   x = LN1(x + Drop(a))
///   f = Lin2(Drop(ReLU(Lin1(x))));                    x = LN2(x + Drop(f))
/// Child names (attn, lin1, lin2, norm1, norm2) match the PyTorch model the parity fixtures come
/// from (tests/fixtures/export_onenip_fixtures.py).
#pragma once

#include "../ops/activations.hpp"
#include "attention.hpp"

namespace onenip::nn {

/// A post-norm transformer encoder layer, DETR style (see transformer.hpp).
template <typename T>
class TransformerEncoderLayer : public Module<T> {
public:
  std::shared_ptr<MultiheadAttention<T>> attn;
  std::shared_ptr<Linear<T>> lin1, lin2;
  std::shared_ptr<LayerNorm<T>> norm1, norm2;
  std::shared_ptr<Dropout<T>> drop, drop1, drop2;

  TransformerEncoderLayer(int64_t d, int64_t heads, int64_t ff, double p, std::shared_ptr<Generator> dropout_gen,
                          Generator& init_gen) {
    attn = this->register_module("attn", std::make_shared<MultiheadAttention<T>>(d, heads, p, dropout_gen, init_gen));
    lin1 = this->register_module("lin1", std::make_shared<Linear<T>>(d, ff, true, init_gen));
    lin2 = this->register_module("lin2", std::make_shared<Linear<T>>(ff, d, true, init_gen));
    norm1 = this->register_module("norm1", std::make_shared<LayerNorm<T>>(d));
    norm2 = this->register_module("norm2", std::make_shared<LayerNorm<T>>(d));
    drop = this->register_module("drop", std::make_shared<Dropout<T>>(p, dropout_gen));
    drop1 = this->register_module("drop1", std::make_shared<Dropout<T>>(p, dropout_gen));
    drop2 = this->register_module("drop2", std::make_shared<Dropout<T>>(p, dropout_gen));
  }

  /// x [N, L, d], pos [L, d] (or undefined), mask [L, L] additive (or undefined).
  Tensor<T> forward(const Tensor<T>& x, const Tensor<T>& pos, const Tensor<T>& mask) const {
    Tensor<T> a = attn->forward(x, x, pos, pos, mask);
    Tensor<T> h = norm1->forward(x + drop1->forward(a));
    Tensor<T> f = lin2->forward(drop->forward(relu(lin1->forward(h))));
    return norm2->forward(h + drop2->forward(f));
  }
};

/// Linear -> ReLU -> Linear (no inner dropout), the decoder's prompt MLP.
template <typename T>
class MLP : public Module<T> {
public:
  std::shared_ptr<Linear<T>> lin1, lin2;
  MLP(int64_t in, int64_t hidden, int64_t out, Generator& init_gen) {
    lin1 = this->register_module("lin1", std::make_shared<Linear<T>>(in, hidden, true, init_gen));
    lin2 = this->register_module("lin2", std::make_shared<Linear<T>>(hidden, out, true, init_gen));
  }
  Tensor<T> forward(const Tensor<T>& x) const { return lin2->forward(relu(lin1->forward(x))); }
};

}  // namespace onenip::nn

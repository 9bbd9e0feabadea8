/// \file
/// The OneNIP-specific layers: the bidirectional decoder layer (paper equations 3-4) and the
/// supervised refiner (Eq. 6). Child names match the PyTorch model the parity fixtures come from
/// (tests/fixtures/export_onenip_fixtures.py).
#pragma once

#include "../nn/containers.hpp"
#include "../nn/transformer.hpp"
#include "../ops/resize.hpp"

namespace onenip::models {

/// How the decoder lets the prompt and the image talk (paper Table 4; docs/onenip.md, section 3):
///   Bidirectional: prompt-to-image, prompt MLP, image-to-prompt (the paper's decoder);
///   Static:        prompt-to-image and the MLP only; the image stream is never updated;
///   Query:         as Static, but the prompt stream starts from learned queries (UniAD-style),
///                  so no prompt image is used.
enum class DecoderMode { Bidirectional, Static, Query };

/// One decoder layer, post-norm. P = prompt stream, X = image stream, both [N, L, d].
///   (1) P = LN1(P + Drop(MHA_p2i(q = P+pos, k = X+pos, v = X, mask)))
///   (2) P = LN2(P + Drop(Lin2(ReLU(Lin1(P)))))
///   (3) X = LN3(X + Drop(MHA_i2p(q = X+pos, k = P+pos, v = P, mask)))   (Bidirectional only)
template <typename T>
class BiDecoderLayer : public nn::Module<T> {
public:
  std::shared_ptr<nn::MultiheadAttention<T>> p2i, i2p;
  std::shared_ptr<nn::Linear<T>> lin1, lin2;
  std::shared_ptr<nn::LayerNorm<T>> norm1, norm2, norm3;
  std::shared_ptr<nn::Dropout<T>> drop1, drop2, drop3;
  bool bidirectional;

  BiDecoderLayer(int64_t d, int64_t heads, int64_t ff, double p, bool bidirectional_,
                 std::shared_ptr<Generator> dropout_gen, Generator& init_gen)
      : bidirectional(bidirectional_) {
    p2i = this->register_module("p2i", std::make_shared<nn::MultiheadAttention<T>>(d, heads, p, dropout_gen, init_gen));
    lin1 = this->register_module("lin1", std::make_shared<nn::Linear<T>>(d, ff, true, init_gen));
    lin2 = this->register_module("lin2", std::make_shared<nn::Linear<T>>(ff, d, true, init_gen));
    if (bidirectional)
      i2p = this->register_module("i2p", std::make_shared<nn::MultiheadAttention<T>>(d, heads, p, dropout_gen, init_gen));
    norm1 = this->register_module("norm1", std::make_shared<nn::LayerNorm<T>>(d));
    norm2 = this->register_module("norm2", std::make_shared<nn::LayerNorm<T>>(d));
    if (bidirectional) norm3 = this->register_module("norm3", std::make_shared<nn::LayerNorm<T>>(d));
    drop1 = this->register_module("drop1", std::make_shared<nn::Dropout<T>>(p, dropout_gen));
    drop2 = this->register_module("drop2", std::make_shared<nn::Dropout<T>>(p, dropout_gen));
    drop3 = this->register_module("drop3", std::make_shared<nn::Dropout<T>>(p, dropout_gen));
  }

  void forward(Tensor<T>& P, Tensor<T>& X, const Tensor<T>& pos, const Tensor<T>& mask) const {
    P = norm1->forward(P + drop1->forward(p2i->forward(P, X, pos, pos, mask)));
    P = norm2->forward(P + drop2->forward(lin2->forward(relu(lin1->forward(P)))));
    if (bidirectional) X = norm3->forward(X + drop3->forward(i2p->forward(X, P, pos, pos, mask)));
  }
};

/// Refiner ("MaskHead"): [conv3x3 no bias, BN, ReLU, deconv 2x2 s2] x 2, conv1x1 -> one logit at
/// 4h x 4w. Registered under "body" with PyTorch Sequential indices 0, 1, 3, 4, 5, 7, 8.
template <typename T>
class Refiner : public nn::Module<T> {
public:
  std::shared_ptr<nn::Conv2d<T>> conv1, conv2, head;
  std::shared_ptr<nn::BatchNorm2d<T>> bn1, bn2;
  std::shared_ptr<nn::ConvTranspose2d<T>> up1, up2;

  Refiner(int64_t c_in, int64_t c, Generator& init_gen) {
    auto body = this->register_module("body", std::make_shared<nn::Module<T>>());
    Conv2dOptions pad1;
    pad1.padding = {1, 1, 1, 1};
    ConvTranspose2dOptions up;
    up.stride = {2, 2};
    conv1 = body->register_module("0", std::make_shared<nn::Conv2d<T>>(c_in, c, 3, pad1, false, init_gen));
    bn1 = body->register_module("1", std::make_shared<nn::BatchNorm2d<T>>(c));
    up1 = body->register_module("3", std::make_shared<nn::ConvTranspose2d<T>>(c, c, 2, up, true, init_gen));
    conv2 = body->register_module("4", std::make_shared<nn::Conv2d<T>>(c, c, 3, pad1, false, init_gen));
    bn2 = body->register_module("5", std::make_shared<nn::BatchNorm2d<T>>(c));
    up2 = body->register_module("7", std::make_shared<nn::ConvTranspose2d<T>>(c, c, 2, up, true, init_gen));
    head = body->register_module("8", std::make_shared<nn::Conv2d<T>>(c, 1, 1, Conv2dOptions{}, true, init_gen));
  }

  /// x [N, C, h, w] -> logits [N, 1, 4h, 4w]
  Tensor<T> forward(const Tensor<T>& x) const {
    Tensor<T> y = up1->forward(relu(bn1->forward(conv1->forward(x))));
    y = up2->forward(relu(bn2->forward(conv2->forward(y))));
    return head->forward(y);
  }
};

}  // namespace onenip::models

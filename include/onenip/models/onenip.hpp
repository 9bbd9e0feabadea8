/// \file
/// OneNIP (Gao et al., ECCV 2024): reconstruct a query image's features from ONE normal prompt
/// image of its class, restore synthetic anomalies to clean features, and refine the error map
/// with a supervised head. This module is the trainable part; the frozen backbone that turns
/// images into features lives in models/backbone.hpp.
///
///   features [N, C, h, w] --tokens--> [N, hw, C] --input_proj--> [N, hw, d]
///   encoder (shared by query and prompt, neighbour-masked self-attention)           paper Eq. 2
///   decoder: prompt stream P gathers from image stream X, X from P, 4 layers          Eq. 3
///   final cross-attention (unmasked), LN, output_proj -> reconstruction F_hat         Eq. 4
///   restoration: the synthetic anomaly's features are reconstructed to the clean ones Eq. 5
///   refiner on |F_hat - F| -> logits, upsampled to S x S, sigmoid                     Eq. 6-7
///   loss = MSE(F_hat, target) + lambda Dice(M_hat, M)                                  Eq. 8
/// Names of parameters match the PyTorch model the parity fixtures come from
/// (tests/fixtures/export_onenip_fixtures.py), so its state dict loads.
#pragma once

#include <cmath>

#include "../nn/losses.hpp"
#include "../ops/join.hpp"
#include "onenip_layers.hpp"

namespace onenip::models {

struct OneNIPConfig {
  int64_t feature_channels = 168;  ///< C: 168 (MobileNetV2 taps) or 272 (EfficientNet-b4 taps)
  int64_t image_size = 224;        ///< S; the token grid is S/16 x S/16
  int64_t hidden = 256;            ///< d
  int64_t heads = 8;
  int64_t ff = 1024;
  int64_t encoder_layers = 4;
  int64_t decoder_layers = 4;
  double dropout = 0.1;
  double jitter_scale = 20.0;      ///< feature jitter (docs/onenip.md, section 2); 0 disables
  double jitter_prob = 1.0;
  DecoderMode decoder = DecoderMode::Bidirectional;
  bool restoration = true;         ///< synthetic stream regressed to the clean features (Eq. 5)
  bool refiner = true;             ///< supervised refiner + Dice loss (Eq. 6-7)
  nn::DiceForm dice = nn::DiceForm::reference;
  double dice_weight = 0.5;        ///< lambda in Eq. 8
  uint64_t seed = 133;             ///< initialisation; dropout and jitter use their own stream

  int64_t grid() const { return image_size / 16; }
  /// neighbour-mask size n: 7 at 224, 8 at 256, 10 at 320 (docs/onenip.md, section 2)
  int64_t neighbour() const { return grid() / 2; }
};

/// The trainable OneNIP model: reconstruction from one normal prompt, restoration of synthetic
/// anomalies, and the refiner head (see onenip.hpp).
template <typename T>
class OneNIP : public nn::Module<T> {
public:
  OneNIPConfig config;
  std::shared_ptr<nn::Linear<T>> input_proj, output_proj;
  std::shared_ptr<nn::ModuleList<T, nn::TransformerEncoderLayer<T>>> enc;
  std::shared_ptr<nn::ModuleList<T, BiDecoderLayer<T>>> dec;
  std::shared_ptr<nn::MultiheadAttention<T>> final_attn;
  std::shared_ptr<nn::Dropout<T>> final_drop;
  std::shared_ptr<nn::LayerNorm<T>> final_norm;
  std::shared_ptr<Refiner<T>> refiner;
  Tensor<T> row_embed, col_embed;  ///< [h, d/2], [w, d/2]: learned 2-D positions, U[0, 1)
  Tensor<T> query_embed;           ///< [hw, d]: learned queries, DecoderMode::Query only
  Tensor<T> mask;                  ///< [hw, hw] neighbour mask (not saved)

  explicit OneNIP(const OneNIPConfig& cfg)
      : config(cfg), noise_(std::make_shared<Generator>(cfg.seed * 7919 + 1)) {
    const int64_t C = cfg.feature_channels, d = cfg.hidden, h = cfg.grid();
    ONENIP_CHECK(cfg.image_size % 16 == 0 && cfg.image_size >= 64, "OneNIP: image_size must be a multiple of 16, >= 64; got ",
                 cfg.image_size);
    ONENIP_CHECK(d % 2 == 0 && d % cfg.heads == 0, "OneNIP: hidden ", d, " must be even and divisible by heads ", cfg.heads);
    Generator init(cfg.seed);
    input_proj = this->register_module("input_proj", std::make_shared<nn::Linear<T>>(C, d, true, init));
    output_proj = this->register_module("output_proj", std::make_shared<nn::Linear<T>>(d, C, true, init));
    enc = this->register_module("enc", std::make_shared<nn::ModuleList<T, nn::TransformerEncoderLayer<T>>>());
    for (int64_t i = 0; i < cfg.encoder_layers; ++i)
      enc->push_back(std::make_shared<nn::TransformerEncoderLayer<T>>(d, cfg.heads, cfg.ff, cfg.dropout, noise_, init));
    dec = this->register_module("dec", std::make_shared<nn::ModuleList<T, BiDecoderLayer<T>>>());
    for (int64_t i = 0; i < cfg.decoder_layers; ++i)
      dec->push_back(std::make_shared<BiDecoderLayer<T>>(d, cfg.heads, cfg.ff, cfg.dropout,
                                                         cfg.decoder == DecoderMode::Bidirectional, noise_, init));
    final_attn = this->register_module("final_attn",
                                       std::make_shared<nn::MultiheadAttention<T>>(d, cfg.heads, cfg.dropout, noise_, init));
    final_drop = this->register_module("final_drop", std::make_shared<nn::Dropout<T>>(cfg.dropout, noise_));
    final_norm = this->register_module("final_norm", std::make_shared<nn::LayerNorm<T>>(d));
    if (cfg.refiner) refiner = this->register_module("refiner", std::make_shared<Refiner<T>>(C, 128, init));
    // The authors' init (docs/onenip.md, section 2): xavier-uniform on every Linear / Conv /
    // ConvTranspose weight (MHA out_proj included; the packed in_proj is xavier-uniform already),
    // zero biases.
    for (auto& [name, p] : this->named_parameters()) {
      bool is_weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0 && p.dim() >= 2;
      bool is_bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
      if (is_weight) nn::init::xavier_uniform_(p, init);
      else if (is_bias) nn::init::zeros_(p);  // norm biases are zero already
    }
    row_embed = this->register_parameter("row_embed", rand<T>({h, d / 2}, T(0), T(1), init));
    col_embed = this->register_parameter("col_embed", rand<T>({h, d / 2}, T(0), T(1), init));
    if (cfg.decoder == DecoderMode::Query)
      query_embed = this->register_parameter("query_embed", rand<T>({h * h, d}, T(0), T(1), init));
    mask = this->register_buffer("mask", neighbour_mask<T>(h, h, cfg.neighbour()), /*persistent=*/false);
  }

  /// The generator behind dropout and feature jitter (its state goes into checkpoints).
  Generator& noise_generator() { return *noise_; }

  /// Token (r, c) gets [col_embed[c], row_embed[r]] (column half first): [hw, d].
  Tensor<T> pos() const {
    const int64_t h = config.grid(), half = config.hidden / 2;
    Tensor<T> cols = col_embed.unsqueeze(0).expand({h, h, half});
    Tensor<T> rows = row_embed.unsqueeze(1).expand({h, h, half});
    return cat<T>({cols, rows}, 2).reshape({h * h, config.hidden});
  }

  /// Encoder (equation 2): f [N, C, h, w] -> tokens [N, hw, d], with feature jitter in training
  /// (docs/onenip.md, section 2).
  Tensor<T> encode(const Tensor<T>& f, const Tensor<T>& pos_) {
    check_features(f, "encode");
    Tensor<T> x = input_proj->forward(jitter(f.flatten(2).transpose(1, 2)));
    for (auto& layer : *enc) x = layer->forward(x, pos_, mask);
    return x;
  }

  /// Decoder (equations 3-4): prompt tokens P and image tokens X [N, hw, d] -> reconstruction [N, C, h, w].
  Tensor<T> decode(Tensor<T> P, Tensor<T> X, const Tensor<T>& pos_) {
    if (config.decoder == DecoderMode::Query) P = query_embed.unsqueeze(0).expand({X.size(0), -1, -1});
    for (auto& layer : *dec) layer->forward(P, X, pos_, mask);
    Tensor<T> a = final_attn->forward(P, X, pos_, pos_);  // unmasked
    Tensor<T> out = output_proj->forward(final_norm->forward(P + final_drop->forward(a)));
    const int64_t h = config.grid();
    return out.transpose(1, 2).reshape({X.size(0), config.feature_channels, h, h});
  }

  /// Refiner (equation 6): logits of |F_hat - F| upsampled to S x S (align_corners), [N, 1, S, S].
  Tensor<T> refine(const Tensor<T>& rec, const Tensor<T>& f_in) {
    ONENIP_CHECK(refiner != nullptr, "OneNIP: the refiner is switched off in this configuration");
    Tensor<T> logits = refiner->forward(abs(rec - f_in));
    return resize_bilinear(logits, config.image_size, config.image_size, true);
  }

  struct TrainOutput {
    Tensor<T> reconstruction;  ///< [2B, C, h, w] (or [B, ...] without a synthetic stream)
    Tensor<T> target;          ///< same shape: clean features
    Tensor<T> logits;          ///< [2B, 1, S, S] refiner logits, undefined without refiner
  };

  /// Training forward: clean query fq, its synthetic anomaly fs (may be undefined when neither
  /// restoration nor refiner is on), prompt fp; all [B, C, h, w].
  TrainOutput forward_train(const Tensor<T>& fq, const Tensor<T>& fs, const Tensor<T>& fp) {
    const int64_t B = fq.size(0);
    const bool synthetic = fs.defined() && (config.restoration || config.refiner);
    Tensor<T> p = pos();
    std::vector<Tensor<T>> streams{fq};
    if (synthetic) streams.push_back(fs);
    const int64_t Q = synthetic ? 2 * B : B;
    bool use_prompt = config.decoder != DecoderMode::Query;
    if (use_prompt) streams.push_back(fp);
    Tensor<T> e = encode(cat(streams, 0), p);  // encoder on [query; synthetic; prompt]
    Tensor<T> x_e = e.narrow(0, 0, Q);
    Tensor<T> p_e;
    if (use_prompt) {
      p_e = e.narrow(0, Q, B);
      if (synthetic) p_e = cat<T>({p_e, p_e}, 0);  // sample i and its synthetic twin share prompt i
    }
    TrainOutput out;
    out.reconstruction = decode(p_e, x_e, p);
    Tensor<T> f_in = synthetic ? cat<T>({fq, fs}, 0) : fq;
    // restoration target: the clean query (Eq. 5); without restoration each stream is its own target
    out.target = synthetic ? (config.restoration ? cat<T>({fq, fq}, 0) : f_in) : fq;
    if (config.refiner) out.logits = refine(out.reconstruction, f_in);
    return out;
  }

  struct Loss {
    Tensor<T> total, mse, dice;
  };
  /// The loss of equation 8. masks [2B, 1, S, S] in {0, 1}: zeros for the clean queries, the synthetic masks after.
  Loss loss(const TrainOutput& o, const Tensor<T>& masks) const {
    Loss l;
    l.mse = nn::mse_loss(o.reconstruction, o.target);
    l.total = l.mse;
    if (o.logits.defined()) {
      l.dice = nn::dice_loss(sigmoid(o.logits), masks, config.dice);
      l.total = l.mse + l.dice * T(config.dice_weight);
    }
    return l;
  }

  /// Inference: encode the prompt once, reuse it for many queries.
  Tensor<T> encode_prompt(const Tensor<T>& fp) { return encode(fp, pos()); }

  struct Maps {
    Tensor<T> rec;  ///< S_rec [N, S, S]: L2 norm over channels of F_hat - F, upsampled (6.3)
    Tensor<T> ref;  ///< S_ref [N, S, S]: refiner probability (6.4); undefined without refiner
  };
  /// fq [N, C, h, w]; p_e [N, hw, d] or [1, hw, d] (broadcast).
  Maps forward_eval(const Tensor<T>& fq, const Tensor<T>& p_e) {
    Tensor<T> p = pos();
    Tensor<T> x_e = encode(fq, p);
    Tensor<T> prompt = p_e.defined() && p_e.size(0) != fq.size(0) ? p_e.expand({fq.size(0), -1, -1}) : p_e;
    Tensor<T> rec = decode(prompt, x_e, p);
    Maps m;
    Tensor<T> err = sqrt(sum(square(rec - fq), {1}, true));
    m.rec = resize_bilinear(err, config.image_size, config.image_size, true).squeeze(1);
    if (refiner) m.ref = sigmoid(refine(rec, fq)).squeeze(1);
    return m;
  }

private:
  void check_features(const Tensor<T>& f, const char* who) const {
    ONENIP_CHECK(f.dim() == 4 && f.size(1) == config.feature_channels && f.size(2) == config.grid() &&
                     f.size(3) == config.grid(),
                 "OneNIP::", who, ": features must be [N, ", config.feature_channels, ", ", config.grid(), ", ",
                 config.grid(), "], got ", shape_str(f.shape()));
  }

  /// Feature jitter: t + N(0,1) * (|t| / C) * scale per token, with probability jitter_prob.
  Tensor<T> jitter(const Tensor<T>& tokens) {
    if (!this->is_training() || config.jitter_scale <= 0 || noise_->uniform() >= config.jitter_prob) return tokens;
    Tensor<T> offset;
    {
      NoGradGuard ng;  // the noise is a constant offset
      Tensor<T> norm = sqrt(sum(square(tokens), {2}, true)) * T(config.jitter_scale / double(tokens.size(2)));
      offset = randn<T>(tokens.shape(), T(0), T(1), *noise_, tokens.device()) * norm;
    }
    return tokens + offset;
  }

  std::shared_ptr<Generator> noise_;
};

}  // namespace onenip::models

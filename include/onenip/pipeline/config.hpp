// The run's configuration: every knob of training, with the reference defaults (reference 5,
// 8.2), readable from and written to JSON (saved into the run folder and the checkpoint).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../models/onenip.hpp"

namespace onenip::pipeline {

inline const char* decoder_name(models::DecoderMode m) {
  return m == models::DecoderMode::Bidirectional ? "bidirectional" : m == models::DecoderMode::Static ? "static" : "query";
}
inline models::DecoderMode parse_decoder(const std::string& s) {
  if (s == "bidirectional") return models::DecoderMode::Bidirectional;
  if (s == "static") return models::DecoderMode::Static;
  if (s == "query") return models::DecoderMode::Query;
  onenip::detail::fail("decoder must be bidirectional, static or query; got '", s, "'");
}
inline nn::DiceForm parse_dice(const std::string& s) {
  if (s == "reference") return nn::DiceForm::reference;
  if (s == "paper") return nn::DiceForm::paper;
  onenip::detail::fail("dice must be reference or paper; got '", s, "'");
}

struct TrainConfig {
  std::vector<std::string> data;        // class folders or roots holding class folders
  std::string backbone = "mobilenetv2"; // or "efficientnet-b4"
  std::string weights;                  // backbone safetensors; empty: seeded random backbone
  std::string out = "runs/onenip";
  std::string textures;                 // texture folder for the Perlin paste ("" = generated)
  int64_t epochs = 1000;
  int batch_size = 8;
  double lr = 1e-4, weight_decay = 1e-4, clip = 0.1;
  int64_t lr_step = 800;
  double lr_gamma = 0.1;
  int64_t save_every = 10;
  int64_t max_steps = -1;               // per epoch, for quick runs; -1 = all
  int workers = 2;
  bool fixed_prompt = false;
  uint64_t seed = 133;
  models::OneNIPConfig model;

  void validate() const {
    ONENIP_CHECK(!data.empty(), "train: no --data given");
    ONENIP_CHECK(epochs > 0 && batch_size > 0 && lr > 0 && save_every > 0, "train: epochs (", epochs,
                 "), batch size (", batch_size, "), lr (", lr, ") and save_every (", save_every, ") must be positive");
    // 224, 256 and 320 are the reference's sizes; any multiple of 16 from 64 works
    ONENIP_CHECK(model.image_size % 16 == 0 && model.image_size >= 64,
                 "train: image size must be a multiple of 16, at least 64 (224, 256, 320 as in the paper); got ",
                 model.image_size);
  }

  nlohmann::json to_json() const {
    const auto& m = model;
    return {{"data", data}, {"backbone", backbone}, {"weights", weights}, {"out", out}, {"textures", textures},
            {"epochs", epochs}, {"batch_size", batch_size}, {"lr", lr}, {"weight_decay", weight_decay},
            {"clip", clip}, {"lr_step", lr_step}, {"lr_gamma", lr_gamma}, {"save_every", save_every},
            {"max_steps", max_steps}, {"workers", workers}, {"fixed_prompt", fixed_prompt}, {"seed", seed},
            {"model",
             {{"feature_channels", m.feature_channels}, {"image_size", m.image_size}, {"hidden", m.hidden},
              {"heads", m.heads}, {"ff", m.ff}, {"encoder_layers", m.encoder_layers},
              {"decoder_layers", m.decoder_layers}, {"dropout", m.dropout}, {"jitter_scale", m.jitter_scale},
              {"jitter_prob", m.jitter_prob}, {"decoder", decoder_name(m.decoder)}, {"restoration", m.restoration},
              {"refiner", m.refiner}, {"dice", nn::dice_form_name(m.dice)}, {"dice_weight", m.dice_weight},
              {"seed", m.seed}}}};
  }

  // Fields present in `j` override the current values; unknown keys are an error (typos).
  void update(const nlohmann::json& j) {
    static const std::vector<std::string> top{"data", "backbone", "weights", "out", "textures", "epochs",
                                              "batch_size", "lr", "weight_decay", "clip", "lr_step", "lr_gamma",
                                              "save_every", "max_steps", "workers", "fixed_prompt", "seed", "model"};
    static const std::vector<std::string> inner{"feature_channels", "image_size", "hidden", "heads", "ff",
                                                "encoder_layers", "decoder_layers", "dropout", "jitter_scale",
                                                "jitter_prob", "decoder", "restoration", "refiner", "dice",
                                                "dice_weight", "seed"};
    auto known = [](const std::vector<std::string>& ks, const std::string& k) {
      return std::find(ks.begin(), ks.end(), k) != ks.end();
    };
    try {
      for (auto& [k, v] : j.items()) ONENIP_CHECK(known(top, k), "config: unknown key '", k, "'");
      auto get = [&](const char* k, auto& field) {
        if (j.contains(k)) field = j.at(k).get<std::decay_t<decltype(field)>>();
      };
      get("data", data), get("backbone", backbone), get("weights", weights), get("out", out);
      get("textures", textures), get("epochs", epochs), get("batch_size", batch_size), get("lr", lr);
      get("weight_decay", weight_decay), get("clip", clip), get("lr_step", lr_step), get("lr_gamma", lr_gamma);
      get("save_every", save_every), get("max_steps", max_steps), get("workers", workers);
      get("fixed_prompt", fixed_prompt), get("seed", seed);
      if (j.contains("model")) {
        const auto& mj = j.at("model");
        for (auto& [k, v] : mj.items()) ONENIP_CHECK(known(inner, k), "config: unknown key 'model.", k, "'");
        auto mget = [&](const char* k, auto& field) {
          if (mj.contains(k)) field = mj.at(k).get<std::decay_t<decltype(field)>>();
        };
        mget("feature_channels", model.feature_channels), mget("image_size", model.image_size);
        mget("hidden", model.hidden), mget("heads", model.heads), mget("ff", model.ff);
        mget("encoder_layers", model.encoder_layers), mget("decoder_layers", model.decoder_layers);
        mget("dropout", model.dropout), mget("jitter_scale", model.jitter_scale), mget("jitter_prob", model.jitter_prob);
        mget("restoration", model.restoration), mget("refiner", model.refiner), mget("dice_weight", model.dice_weight);
        mget("seed", model.seed);
        if (mj.contains("decoder")) model.decoder = parse_decoder(mj.at("decoder").get<std::string>());
        if (mj.contains("dice")) model.dice = parse_dice(mj.at("dice").get<std::string>());
      }
    } catch (const nlohmann::json::exception& e) {
      onenip::detail::fail("config: ", e.what());
    }
  }
};

}  // namespace onenip::pipeline

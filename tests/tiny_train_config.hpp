// A training run small enough for tests: a 64 px, one-layer, 32-wide OneNIP on `data`.
#pragma once

#include <onenip/pipeline/config.hpp>

namespace testing {

inline onenip::pipeline::TrainConfig tiny_train_config(const std::string& data, const std::string& out) {
  onenip::pipeline::TrainConfig c;
  c.data = {data};
  c.out = out;
  c.lr = 1e-3;
  c.model.image_size = 64;
  c.model.hidden = 32;
  c.model.heads = 4;
  c.model.ff = 64;
  c.model.encoder_layers = 1;
  c.model.decoder_layers = 1;
  return c;
}

}  // namespace testing

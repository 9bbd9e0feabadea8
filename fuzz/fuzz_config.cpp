// Fuzz target: the training configuration from JSON (`onenip train --config`, and the config a
// checkpoint or run folder carries): TrainConfig::update, then validate, and an accepted config
// must survive to_json -> update unchanged.
#include <onenip/pipeline/config.hpp>

#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(config) {
  // Bytes that are not JSON never reach the loader: the CLI reports the parser's error.
  nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  onenip::pipeline::TrainConfig c;
  try {
    c.update(j);
  } catch (const onenip::Error&) {
    return 0;
  }
  try {
    c.validate();
  } catch (const onenip::Error&) {
  }
  onenip::pipeline::TrainConfig again;
  again.update(c.to_json());  // what to_json writes must load back, and to the same config
  if (again.to_json() != c.to_json()) __builtin_trap();
  return 0;
}

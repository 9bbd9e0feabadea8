// Shared by the backbone tests: the PyTorch fixture (tests/fixtures/backbone_fixtures.safetensors,
// written by export_backbone_fixtures.py), pattern-weight networks, the real weights in ../shared.
#pragma once

#include <onenip/models/backbone.hpp>
#include <onenip/models/pattern_weights.hpp>

#include <string>

#include "file_helpers.hpp"
#include "helpers.hpp"

namespace testing {

inline const onenip::io::SafeTensorsFile& backbone_fixture() { return fixture("backbone_fixtures.safetensors"); }
template <typename T>
onenip::Tensor<T> fixture_tensor(const std::string& name) {
  return backbone_fixture().get<T>(name);
}

// ../shared/weights/<file>, or "" (and a message) when ../shared is absent.
inline std::string shared_weights(const std::string& file) {
  std::string dir = shared_dir();
  if (dir.empty()) {
    MESSAGE("skipped: ../shared is absent, so ", file, " is not available");
    return "";
  }
  return dir + "/weights/" + file;
}

// Write a state dict as safetensors.
template <typename T>
void save_state_dict(const std::string& path, const onenip::models::StateDict<T>& sd) {
  std::vector<std::pair<std::string, onenip::Tensor<T>>> items(sd.begin(), sd.end());
  onenip::io::save_safetensors(path, items);
}

}  // namespace testing

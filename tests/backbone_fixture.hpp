// Shared by the backbone tests: the PyTorch fixture (tests/fixtures/backbone_fixtures.safetensors,
// written by export_backbone_fixtures.py), pattern-weight networks, and tolerant comparisons.
#pragma once

#include <onenip/models/backbone.hpp>
#include <onenip/models/pattern_weights.hpp>

#include <atomic>
#include <filesystem>
#include <string>
#include <unistd.h>

#include "helpers.hpp"

namespace testing {

inline const onenip::io::SafeTensorsFile& backbone_fixture() {
  static onenip::io::SafeTensorsFile f(std::string(ONENIP_SOURCE_DIR) + "/tests/fixtures/backbone_fixtures.safetensors");
  return f;
}
template <typename T>
onenip::Tensor<T> fixture_tensor(const std::string& name) {
  return backbone_fixture().get<T>(name);
}

// Every element within rtol of the reference, relative to the reference's largest magnitude
// (the values pass through zero, so a purely elementwise relative test would be meaningless).
template <typename T>
void check_rel(const onenip::Tensor<T>& got, const onenip::Tensor<T>& want, double rtol) {
  double peak = 0;
  auto w = want.contiguous();
  for (int64_t i = 0; i < w.numel(); ++i) peak = std::max(peak, std::abs(double(w.data()[i])));
  check_close(got, want, rtol * peak, rtol);
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

// A fresh directory under the system temp folder, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("onenip_backbone_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Write a state dict as safetensors.
template <typename T>
void save_state_dict(const std::string& path, const onenip::models::StateDict<T>& sd) {
  std::vector<std::pair<std::string, onenip::Tensor<T>>> items(sd.begin(), sd.end());
  onenip::io::save_safetensors(path, items);
}

}  // namespace testing

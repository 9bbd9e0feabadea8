/// \file
/// Named weights of a pretrained network: read from a safetensors file into a map, checked
/// strictly against the list of tensors the network expects (names and shapes).
#pragma once

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "../io/safetensors.hpp"

namespace onenip::models {

template <typename T>
using StateDict = std::map<std::string, Tensor<T>>;

/// One tensor a network knows. `required`: the network cannot run without it; optional tensors
/// (an unused classifier head, say) may be absent but, when present, must have this shape.
struct TensorSpec {
  std::string name;
  Shape shape;
  bool required = true;
};

/// Every tensor of a safetensors file, converted to T. Errors name the file (and the tensor).
template <typename T>
StateDict<T> load_state_dict(const std::string& path) {
  ONENIP_CHECK(std::filesystem::is_regular_file(path), "weights file '", path, "' does not exist or is not a file");
  io::SafeTensorsFile f(path);
  StateDict<T> sd;
  for (const auto& info : f.tensors()) sd.emplace(info.name, f.get<T>(info.name));
  return sd;
}

/// Throws one error listing every missing required tensor, every tensor the network does not
/// know, and every shape mismatch (the first dozen of each kind). `network` and `origin` (where
/// the weights came from) go into the message.
template <typename T>
void check_state_dict(const StateDict<T>& sd, const std::vector<TensorSpec>& spec, const std::string& network,
                      const std::string& origin) {
  std::map<std::string, const TensorSpec*> known;
  for (const auto& s : spec) known[s.name] = &s;
  std::vector<std::string> missing, unexpected, wrong_shape;
  for (const auto& s : spec) {
    auto it = sd.find(s.name);
    if (it == sd.end()) {
      if (s.required) missing.push_back(s.name);
    } else if (it->second.shape() != s.shape) {
      wrong_shape.push_back(s.name + " is " + shape_str(it->second.shape()) + ", expected " + shape_str(s.shape));
    }
  }
  for (const auto& [name, t] : sd)
    if (!known.count(name)) unexpected.push_back(name + " " + shape_str(t.shape()));
  if (missing.empty() && unexpected.empty() && wrong_shape.empty()) return;
  std::ostringstream msg;
  msg << network << ": the weights in " << origin << " do not fit the network";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    msg << "; " << v.size() << " " << what << ": ";
    for (size_t i = 0; i < v.size() && i < 12; ++i) msg << (i ? ", " : "") << v[i];
    if (v.size() > 12) msg << ", ...";
  };
  list("missing tensor(s)", missing);
  list("unexpected tensor(s)", unexpected);
  list("with the wrong shape", wrong_shape);
  ::onenip::detail::fail(msg.str());
}

/// The tensor `name` (which check_state_dict has vetted).
template <typename T>
const Tensor<T>& state_tensor(const StateDict<T>& sd, const std::string& name) {
  auto it = sd.find(name);
  ONENIP_CHECK(it != sd.end(), "state dict: no tensor named '", name, "'");
  return it->second;
}

}  // namespace onenip::models

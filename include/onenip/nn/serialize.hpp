/// \file
/// Modules to and from safetensors files, by state-dict name: a file exported from PyTorch
/// (or timm) with `safetensors.torch.save_file(model.state_dict(), path)` loads as it is.
#pragma once

#include "../io/safetensors.hpp"
#include "module.hpp"

namespace onenip::nn {

/// The tensors of an open file whose names start with `prefix` (stripped). The source refers
/// to `f`: keep the file open while loading from it.
template <typename T>
TensorSource<T> file_source(const io::SafeTensorsFile& f, const std::string& prefix = "") {
  TensorSource<T> s{"'" + f.path() + "'" + (prefix.empty() ? "" : " (tensors under '" + prefix + "')"), {}, {}, {}};
  for (auto& ti : f.tensors())
    if (ti.name.compare(0, prefix.size(), prefix) == 0) s.names.push_back(ti.name.substr(prefix.size()));
  s.shape = [&f, prefix](const std::string& n) { return f.info(prefix + n).shape; };
  s.fetch = [&f, prefix](const std::string& n) { return f.get<T>(prefix + n); };
  return s;
}

/// Values are converted from the file's dtype (F16, BF16, F64, ...) to T.
template <typename T>
LoadResult load_safetensors(Module<T>& m, const std::string& path, bool strict = true) {
  io::SafeTensorsFile f(path);
  return m.load_from(file_source<T>(f), strict);
}

template <typename T>
void save_safetensors(const Module<T>& m, const std::string& path, const io::Metadata& metadata = {}) {
  io::save_safetensors(path, m.state_dict(), metadata);
}

template <typename T>
LoadResult Module<T>::load(const std::string& path, bool strict) {
  return load_safetensors(*this, path, strict);
}
template <typename T>
void Module<T>::save(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  save_safetensors(*this, path, metadata);
}

}  // namespace onenip::nn

/// \file
/// ModuleList: children named "0", "1", ... as torch.nn.ModuleList, so "enc.2.attn.in_proj_weight"
/// style names line up with PyTorch state dicts.
#pragma once

#include "module.hpp"

namespace onenip::nn {

/// Child modules named "0", "1", and so on, as torch.nn.ModuleList.
template <typename T, typename M>
class ModuleList : public Module<T> {
public:
  std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
    items_.push_back(this->register_module(std::to_string(items_.size()), std::move(m)));
    return items_.back();
  }
  size_t size() const { return items_.size(); }
  const std::shared_ptr<M>& operator[](size_t i) const { return items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace onenip::nn

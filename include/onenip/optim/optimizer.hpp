/// \file
/// Optimiser base: the parameters it updates, the learning rate, zero_grad, and the state a
/// checkpoint saves (per-parameter tensors by slot name, plus scalars as JSON).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "../ops/elementwise.hpp"

namespace onenip::optim {

/// Everything an optimiser needs to continue exactly where it stopped.
template <typename T>
struct OptimizerState {
  std::string kind;                                     ///< "AdamW", "Adam", "SGD"
  std::map<std::string, std::vector<Tensor<T>>> slots;  ///< slot -> one tensor per parameter (undefined: none yet)
  nlohmann::json scalars = nlohmann::json::object();    ///< lr, step counts, options
};

/// The base of the optimisers: the parameters it updates, the learning rate, zero_grad, and the
/// state a checkpoint saves.
template <typename T>
class Optimizer {
public:
  explicit Optimizer(std::vector<Tensor<T>> params, double lr) : params_(std::move(params)), lr_(lr) {
    ONENIP_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got ", lr);
    for (size_t i = 0; i < params_.size(); ++i)
      ONENIP_CHECK(params_[i].defined() && params_[i].is_leaf() && params_[i].requires_grad(), "optimizer: parameter ",
                   i, " is not a leaf that requires grad (pass only trainable parameters)");
  }
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  virtual std::string kind() const = 0;

  /// The state to save (tensors alias the optimiser's own: clone before changing them).
  virtual OptimizerState<T> state() const = 0;
  /// Restore a saved state (copied in). The parameters must be the same list, in the same order.
  virtual void load_state(const OptimizerState<T>& s) = 0;

  /// PyTorch's zero_grad(set_to_none=True).
  void zero_grad() {
    for (auto& p : params_) p.zero_grad();
  }
  double lr() const { return lr_; }
  void set_lr(double lr) {
    ONENIP_CHECK(lr >= 0, "optimizer: learning rate must be >= 0, got ", lr);
    lr_ = lr;
  }
  const std::vector<Tensor<T>>& params() const { return params_; }

protected:
  /// Checks a saved state against this optimiser before load_state changes anything.
  void check_state(const OptimizerState<T>& s, std::initializer_list<const char*> slot_names) const {
    ONENIP_CHECK(s.kind == kind(), "optimizer: the saved state is from ", s.kind.empty() ? "(unnamed)" : s.kind,
                 ", this optimizer is ", kind());
    for (auto& [name, ts] : s.slots) {
      bool known = false;
      for (auto* n : slot_names) known |= name == n;
      ONENIP_CHECK(known, kind(), ": the saved state has an unknown slot '", name, "'");
      ONENIP_CHECK(ts.size() == params_.size(), kind(), ": the saved slot '", name, "' has ", ts.size(),
                   " tensors for ", params_.size(), " parameters");
      for (size_t i = 0; i < ts.size(); ++i)
        ONENIP_CHECK(!ts[i].defined() || ts[i].shape() == params_[i].shape(), kind(), ": saved '", name,
                     "' of parameter ", i, " has shape ", shape_str(ts[i].shape()), ", the parameter ",
                     shape_str(params_[i].shape()));
    }
  }
  /// The saved slot (cloned), or all-undefined when the state has none.
  std::vector<Tensor<T>> restore_slot(const OptimizerState<T>& s, const std::string& name) const {
    std::vector<Tensor<T>> out(params_.size());
    if (auto it = s.slots.find(name); it != s.slots.end())
      for (size_t i = 0; i < out.size(); ++i)
        if (it->second[i].defined()) out[i] = it->second[i].detach().to(params_[i].device()).contiguous().clone();
    return out;
  }

  std::vector<Tensor<T>> params_;
  double lr_;
};

}  // namespace onenip::optim

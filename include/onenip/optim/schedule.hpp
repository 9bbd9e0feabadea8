/// \file
/// Learning-rate schedules. The rate for an epoch is a closed form of the epoch, as the
/// reference's `scheduler.step(epoch)` uses it, so a resumed run gets exactly the rate an
/// uninterrupted one has at that epoch. The state (base lr, epoch) goes into checkpoints.
#pragma once

#include <cmath>

#include "optimizer.hpp"

namespace onenip::optim {

/// The base of the learning-rate schedules: the rate is a closed form of the epoch.
template <typename T>
class LRScheduler {
public:
  /// The base rate is the optimiser's rate now; the optimiser is set to the rate of epoch 0.
  explicit LRScheduler(Optimizer<T>& opt) : opt_(opt), base_lr_(opt.lr()) {}
  virtual ~LRScheduler() = default;
  virtual std::string kind() const = 0;
  /// The rate at `epoch` (closed form, no history).
  virtual double lr_at(int64_t epoch) const = 0;

  /// Move to `epoch` and set the optimiser's rate for it.
  void step(int64_t epoch) {
    ONENIP_CHECK(epoch >= 0, kind(), ": epoch must be >= 0, got ", epoch);
    epoch_ = epoch;
    opt_.set_lr(lr_at(epoch));
  }
  void step() { step(epoch_ + 1); }
  int64_t last_epoch() const { return epoch_; }
  double base_lr() const { return base_lr_; }

  nlohmann::json state() const { return {{"kind", kind()}, {"base_lr", base_lr_}, {"last_epoch", epoch_}}; }
  void load_state(const nlohmann::json& s) {
    try {
      ONENIP_CHECK(s.at("kind").get<std::string>() == kind(), kind(), ": the saved schedule is ", s.at("kind").dump());
      base_lr_ = s.at("base_lr").get<double>();
      step(s.at("last_epoch").get<int64_t>());
    } catch (const nlohmann::json::exception& e) {
      onenip::detail::fail(kind(), ": invalid saved state ", s.dump(), ": ", e.what());
    }
  }

protected:
  void init() { step(0); }  ///< derived constructors call this once their parameters are set
  Optimizer<T>& opt_;
  double base_lr_;
  int64_t epoch_ = 0;
};

/// lr = base * gamma^(epoch // step_size), as torch.optim.lr_scheduler.StepLR.
template <typename T>
class StepLR : public LRScheduler<T> {
public:
  StepLR(Optimizer<T>& opt, int64_t step_size, double gamma = 0.1)
      : LRScheduler<T>(opt), step_size_(step_size), gamma_(gamma) {
    ONENIP_CHECK(step_size > 0, "StepLR: step_size must be > 0, got ", step_size);
    this->init();
  }
  std::string kind() const override { return "StepLR"; }
  double lr_at(int64_t epoch) const override {
    return this->base_lr_ * std::pow(gamma_, double(epoch / step_size_));
  }

private:
  int64_t step_size_;
  double gamma_;
};

}  // namespace onenip::optim

// Command-line flags for TrainConfig fields, made from its field list (TrainConfig::visit), so
// `onenip train` (and `onenip demo`, for a few fields) cannot drift from the JSON config.
#pragma once

#include <onenip/pipeline/config.hpp>

#include <CLI/CLI.hpp>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

namespace onenip::cli {

class ConfigFlags {
public:
  // Add to `app` the flag of every field that has one (only those in `only`, when given), with
  // `shown` supplying the defaults the help text shows.
  ConfigFlags(CLI::App& app, const pipeline::TrainConfig& shown, std::set<std::string> only = {})
      : app_(&app), scratch_(std::make_shared<pipeline::TrainConfig>(shown)), flags_(std::make_shared<std::set<std::string>>()) {
    // Options are bound to a scratch config so that CLI11 checks each value's type and shows its
    // default; apply() reads the values back from the options.
    scratch_->visit([&](const pipeline::ConfigField& f, auto& value) {
      if (!f.flag || (!only.empty() && !only.count(f.flag)) || !flags_->insert(f.flag).second) return;
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_same_v<T, bool>)
        app.add_flag(f.flag, f.help);
      else if constexpr (std::is_enum_v<T>)  // checked when applied, with the library's message
        app.add_option(f.flag, f.help)->type_name("TEXT")->default_str(pipeline::enum_name(value));
      else if constexpr (std::is_same_v<T, std::vector<std::string>>)  // no "=[]" in the help
        app.add_option(f.flag, value, f.help);
      else
        app.add_option(f.flag, value, f.help)->capture_default_str();
    });
  }

  // Set in `cfg` every field whose flag was given on the command line (a flag shared by two
  // fields, --seed, sets both); the others keep their values.
  void apply(pipeline::TrainConfig& cfg) const {
    cfg.visit([&](const pipeline::ConfigField& f, auto& value) {
      if (!f.flag || !flags_->count(f.flag) || app_->count(f.flag) == 0) return;
      const CLI::Option* o = app_->get_option(f.flag);
      using T = std::decay_t<decltype(value)>;
      if constexpr (std::is_same_v<T, bool>)
        value = o->as<bool>() != f.negated;
      else if constexpr (std::is_enum_v<T>)
        pipeline::parse_enum(o->as<std::string>(), value);
      else
        value = o->as<T>();
    });
  }

private:
  CLI::App* app_;
  std::shared_ptr<pipeline::TrainConfig> scratch_;  // shared: the command's action holds a copy
  std::shared_ptr<std::set<std::string>> flags_;    // the flags this object added
};

}  // namespace onenip::cli

// The `onenip` command line: one function per sub-command, each registering its options on a
// CLI11 sub-app and returning the action to run.
#pragma once

#include <onenip/pipeline/config.hpp>

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

namespace onenip::cli {

using Action = std::function<int()>;

// `--device cpu|cuda` of the commands that load a run (eval, infer, calibrate); `onenip train`
// has it from the config's field list. Read it with pipeline::parse_device.
inline std::shared_ptr<std::string> add_device_option(CLI::App& app) {
  auto device = std::make_shared<std::string>("cpu");
  app.add_option("--device", *device, "where the model runs: cpu | cuda (a run trained on either device)")
      ->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  return device;
}

Action add_train(CLI::App& app);
Action add_eval(CLI::App& app);
Action add_infer(CLI::App& app);
Action add_calibrate(CLI::App& app);
Action add_demo(CLI::App& app);
Action add_synth(CLI::App& app);
Action add_explain(CLI::App& app);

}  // namespace onenip::cli

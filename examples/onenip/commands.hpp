// The `onenip` command line: one function per sub-command, each registering its options on a
// CLI11 sub-app and returning the action to run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace onenip::cli {

using Action = std::function<int()>;

Action add_train(CLI::App& app);
Action add_eval(CLI::App& app);
Action add_infer(CLI::App& app);
Action add_calibrate(CLI::App& app);
Action add_demo(CLI::App& app);
Action add_synth(CLI::App& app);

}  // namespace onenip::cli

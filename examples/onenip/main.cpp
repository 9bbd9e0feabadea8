// onenip: train, evaluate and run the OneNIP anomaly detector.
//   onenip demo                      generate a small dataset, train, evaluate, write a report
//   onenip train --data ROOT... ...  train one model for all classes found
//   onenip eval --checkpoint RUN --data ROOT...
//   onenip calibrate --checkpoint RUN --data ROOT...   (or --normal DIR): thresholds.json
//   onenip infer --checkpoint RUN --out DIR IMAGE...
//   onenip synth --data ROOT --out grid.png   look at synthesised anomalies
//   onenip explain --checkpoint RUN --out fig.png IMAGE...   every stage of the score, a row per image
#include <onenip/core/error.hpp>

#include <cstdio>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"onenip: multi-class anomaly detection with one normal image prompt (OneNIP, ECCV 2024)"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, onenip::cli::Action>> commands;
  auto add = [&](const char* name, const char* help, onenip::cli::Action (*f)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands.emplace_back(sub, f(*sub));
  };
  add("demo", "generate a seeded dataset, train one model for its classes, evaluate, write the report", onenip::cli::add_demo);
  add("train", "train one model for every class under the given folders", onenip::cli::add_train);
  add("eval", "evaluate a trained run on test sets", onenip::cli::add_eval);
  add("calibrate", "fit the run's image and pixel thresholds on held-out images (thresholds.json)",
      onenip::cli::add_calibrate);
  add("infer", "decide on new images: score, normal / anomalous, defect mask and regions, overlay",
      onenip::cli::add_infer);
  add("synth", "write a grid of synthesised anomalies and their masks as a PNG", onenip::cli::add_synth);
  add("explain", "write a figure, a row per image: image | ground truth | S_rec | S_ref | fused map | overlay",
      onenip::cli::add_explain);
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, action] : commands)
      if (sub->parsed()) return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "onenip: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

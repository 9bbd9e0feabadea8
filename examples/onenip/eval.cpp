#include "commands.hpp"
#include "workflow.hpp"

namespace onenip::cli {

Action add_eval(CLI::App& app) {
  auto run = std::make_shared<std::string>(), out = std::make_shared<std::string>(), weights = std::make_shared<std::string>();
  auto data = std::make_shared<std::vector<std::string>>();
  auto threshold = std::make_shared<double>(NAN);
  auto device = add_device_option(app);
  auto prompt = std::make_shared<std::string>("known-class"), fusion = std::make_shared<std::string>("stored");
  app.add_option("--checkpoint", *run, "run folder written by `onenip train`")->required()->check(CLI::ExistingDirectory);
  app.add_option("--data", *data, "class folders or roots holding class folders")->required();
  app.add_option("--out", *out, "where metrics and report go (default: RUN/eval)");
  app.add_option("--weights", *weights, "backbone weights, if they moved since training");
  app.add_option("--threshold", *threshold, "image-score threshold for the counts, instead of the run's thresholds.json");
  app.add_option("--prompt", *prompt, "known-class | cosine")->check(CLI::IsMember({"known-class", "cosine"}))->capture_default_str();
  app.add_option("--fusion", *fusion, "stored (scale from training) | reference (scale from this test run)")
      ->check(CLI::IsMember({"stored", "reference"}))->capture_default_str();
  return [=]() {
    pipeline::EvalOptions opt;
    opt.prompt = *prompt == "cosine" ? pipeline::PromptSelection::Cosine : pipeline::PromptSelection::KnownClass;
    opt.reference_fusion = *fusion == "reference";
    auto r = evaluate_run(*run, *data, out->empty() ? *run + "/eval" : *out, opt, *weights, *threshold,
                          pipeline::parse_device(*device));
    std::printf("report: %s/report.html\n", (out->empty() ? *run + "/eval" : *out).c_str());
    return 0;
  };
}

}  // namespace onenip::cli

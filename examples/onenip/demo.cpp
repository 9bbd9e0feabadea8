#include <onenip/data/demo_dataset.hpp>

#include "commands.hpp"
#include "config_flags.hpp"
#include "workflow.hpp"

namespace onenip::cli {

Action add_demo(CLI::App& app) {
  auto out = std::make_shared<std::string>("runs/demo");
  auto dataset_only = std::make_shared<bool>(false);
  pipeline::TrainConfig demo;
  demo.epochs = 6;  // 4 min on 2 cores with MobileNetV2 weights (README)
  app.add_option("--out", *out, "folder for the dataset, the run and the report")->capture_default_str();
  ConfigFlags flags(app, demo, {"--weights", "--epochs", "--seed", "--max-steps", "--device", "--precision"});
  app.add_flag("--dataset-only", *dataset_only, "write the dataset to OUT/data and stop (to try train, eval and infer by hand)");
  return [=]() {
    std::string data = *out + "/data";
    pipeline::TrainConfig cfg = demo;
    cfg.data = {data};
    cfg.out = *out + "/run";
    flags.apply(cfg);
    cfg.save_every = cfg.epochs;  // one checkpoint, at the end
    if (!*dataset_only) cfg.validate();  // bad flags refused before anything is written
    std::fprintf(stderr, "1/3 writing a seeded dataset (classes weave, disc, grid; defects scratch, stain, hole, blob) to %s\n",
                 data.c_str());
    data::write_demo_dataset(data);
    if (*dataset_only) return 0;
    if (cfg.weights.empty())
      std::fprintf(stderr, "note: no --weights given, so the backbone is MobileNetV2 with deterministic stand-in (untrained) weights; "
                           "pass --weights mobilenetv2_100_imagenet.safetensors for the pretrained one\n");
    std::fprintf(stderr, "2/3 training one model for all classes (%lld epochs)\n", (long long)cfg.epochs);
    train_run(cfg, false);
    std::fprintf(stderr, "3/3 evaluating\n");
    pipeline::EvalOptions opt;
    auto r = evaluate_run(cfg.out, cfg.data, *out + "/eval", opt, "", NAN, cfg.device);
    std::printf("mean image AUROC %.1f %%, pixel AUROC %.1f %%\nreport: %s/eval/report.html\n",
                100 * r.mean.image_auroc, 100 * r.mean.pixel_auroc, out->c_str());
    return 0;
  };
}

}  // namespace onenip::cli

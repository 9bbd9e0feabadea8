// Steps shared by the sub-commands: train a run folder to the end (checkpoint, prompt pool,
// fusion scale), evaluate and write the outputs.
#pragma once

#include <onenip/pipeline/report.hpp>

#include <cstdio>
#include <functional>

namespace onenip::cli {

// The top of the colour range of S_rec and fused-map pictures (`onenip infer`'s overlays, `onenip
// explain`'s panels): twice the run's fusion scale, about the largest S_rec of its training
// images, so every picture of a run uses the same colours.
inline double map_colour_top(const pipeline::Detector& det) { return std::max(1e-6, 2 * det.fusion_scale()); }

// Figure rows (as data::hconcat makes them, equally wide) stacked top to bottom, `gap` white
// rows between them: the grids of `onenip synth` and `onenip explain`.
inline io::Image stack_rows(const std::vector<io::Image>& rows, int gap) {
  ONENIP_CHECK(!rows.empty(), "stack_rows: no rows given");
  int height = gap * int(rows.size() - 1);
  for (const io::Image& r : rows) {
    ONENIP_CHECK(r.width == rows[0].width && r.channels == 3, "stack_rows: rows must be RGB and equally wide");
    height += r.height;
  }
  io::Image grid(rows[0].width, height, 3, 255);
  int y0 = 0;
  for (const io::Image& r : rows) {
    std::copy(r.pixels.begin(), r.pixels.end(), &grid.at(y0, 0, 0));
    y0 += r.height + gap;
  }
  return grid;
}

// Train (or resume) `cfg`, then write the prompt pool and fusion scale beside the checkpoint.
// With a communicator of N ranks every rank trains its shard; rank 0 alone prints and writes.
// `should_stop` (Trainer::should_stop): false returned when it stopped the run (checkpoint
// written, no prompt pool yet), true when the run trained to the end. One process resuming a
// folder without a checkpoint (a run stopped before its first one) starts from the beginning;
// ranks of a data-parallel job all need the checkpoint, or they would start from different states.
inline bool train_run(const pipeline::TrainConfig& cfg, bool resume,
                      std::shared_ptr<distributed::Communicator> comm = nullptr,
                      std::function<bool(int64_t)> should_stop = {}) {
  pipeline::Trainer trainer(cfg, comm);
  trainer.should_stop = std::move(should_stop);
  const bool root = trainer.communicator().is_root();
  const bool from_checkpoint =
      trainer.communicator().size() > 1 || std::filesystem::exists(trainer.checkpoint_path());
  if (resume && from_checkpoint) trainer.resume(trainer.checkpoint_path());
  if (!root) {
    trainer.run(nullptr);
    return true;
  }
  if (trainer.communicator().size() > 1)
    std::fprintf(stderr, "data parallel: %d ranks over %s, %d images per rank per step%s\n", trainer.communicator().size(),
                 trainer.communicator().name().c_str(), cfg.batch_size / trainer.communicator().size(),
                 cfg.sync_bn ? ", synchronised batch norm" : "");
  std::fprintf(stderr, "classes: ");
  for (auto& c : trainer.classes()) std::fprintf(stderr, "%s (%zu train) ", c.name.c_str(), c.train.size());
  std::fprintf(stderr, "\nbackbone %s%s, %lld trainable parameters\n", cfg.backbone.c_str(),
               cfg.weights.empty() ? " (untrained stand-in weights: no --weights given)" : "",
               (long long)trainer.model()->num_parameters(true));
  if (resume && from_checkpoint)
    std::fprintf(stderr, "resumed from %s at epoch %lld, global step %lld\n", trainer.checkpoint_path().c_str(),
                 (long long)trainer.epoch() + 1, (long long)trainer.global_step());
  else if (resume)
    std::fprintf(stderr, "no %s yet: training from the beginning\n", trainer.checkpoint_path().c_str());
  auto t0 = std::chrono::steady_clock::now();
  auto history = trainer.run(stderr);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& e : history)
    std::fprintf(stderr, "epoch %lld: loss %.4f (mse %.4f, dice %.4f), %.1f s\n", (long long)e.epoch + 1, e.loss,
                 e.mse, e.dice, e.seconds);
  std::fprintf(stderr, "trained %zu epoch(s) in %.1f s\n", history.size(), secs);
  if (trainer.stopped()) {
    std::fprintf(stderr, "stopped after global step %lld: %s written; the same command with --resume continues\n",
                 (long long)trainer.global_step(), trainer.checkpoint_path().c_str());
    return false;
  }
  pipeline::Detector det(trainer.model(), trainer.extractor(), trainer.config());
  det.build_from_training(trainer.loader(), trainer.features());
  det.save_pool(cfg.out);
  std::fprintf(stderr, "run folder: %s (checkpoint.safetensors, prompts.safetensors, config.json, train.log)\n",
               cfg.out.c_str());
  return true;
}

// Evaluate a run on `data` and write metrics.{json,csv} and report.html into `out`, with counts
// at the run's thresholds or at `threshold` (NaN: the run's).
inline pipeline::EvalResult evaluate_run(const std::string& run, const std::vector<std::string>& data,
                                         const std::string& out, const pipeline::EvalOptions& opt,
                                         const std::string& weights = "", double threshold = NAN,
                                         Device device = Device::CPU) {
  pipeline::Detector det(run, weights, device);
  if (!std::isnan(threshold)) {  // another image threshold than the stored one (or none)
    auto t = det.thresholds().value_or(pipeline::Thresholds{});
    if (!det.thresholds()) t.pixel = threshold;
    t.image = threshold, t.method = "flag";
    t.images.clear();  // not fitted on any image
    det.set_thresholds(t);
  }
  if (det.thresholds()) std::fprintf(stderr, "thresholds: %s\n", det.thresholds()->describe().c_str());
  auto classes = data::discover_datasets(data, {});
  auto result = pipeline::evaluate(det, classes, opt, stderr);
  std::filesystem::create_directories(out);
  pipeline::write_metrics(result, out);
  pipeline::write_report(result, out, "OneNIP evaluation: " + run);
  std::printf("%s", pipeline::metrics_table(result).c_str());
  std::printf("prompt selection %s, fusion %s\n", result.prompt_mode.c_str(), result.fusion_mode.c_str());
  return result;
}

}  // namespace onenip::cli

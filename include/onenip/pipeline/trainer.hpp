/// \file
/// Unified training of OneNIP (docs/onenip.md, section 6): one model for every class given.
///
/// A step: B queries (clean), their synthetic anomalies and B prompts go through the frozen
/// backbone; the model reconstructs the queries and restores the anomalies from the prompts'
/// features; loss = MSE + lambda Dice (Eq. 8); AdamW, global-norm clipping, step schedule per
/// epoch. The backbone is frozen and clean images are never augmented, so their features are
/// computed once and cached (the synthetic images change every step and always go through it).
///
/// Data parallel (a Communicator of N ranks): every rank holds the whole model and takes its
/// shard of each global batch; each rank's loss is weighted by its share of the global batch,
/// and one all-reduce per step sums the gradients (and the reported losses) in one bucket, so
/// every rank applies the same update to the same weights and optimiser state. Only rank 0
/// writes files or prints progress.
///
/// Stopping and failing (docs/reliability.md): `should_stop` (the CLI's SIGINT / SIGTERM) ends
/// the run after a step with a checkpoint that resumes bit-exactly, mid-epoch included; NaN or
/// Inf in the features, the loss, the gradients or the weights stops it with an error that
/// names the step and the last good checkpoint, which is never overwritten by a bad one.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <unistd.h>

#include "../data/transforms.hpp"
#include "../distributed/tensor_ops.hpp"
#include "../io/checkpoint.hpp"
#include "../models/backbone.hpp"
#include "../models/onenip.hpp"
#include "../optim/adamw.hpp"
#include "../optim/clip.hpp"
#include "../optim/schedule.hpp"
#include "config.hpp"
#include "loader.hpp"

namespace onenip::pipeline {

/// Backbone features of uint8 S x S images, with a cache for the clean training images.
class FeatureCache {
public:
  explicit FeatureCache(std::shared_ptr<models::FeatureExtractor<float>> extractor, int chunk = 16)
      : fx_(std::move(extractor)), chunk_(chunk) {
    ONENIP_CHECK(fx_, "FeatureCache: no feature extractor given");
  }

  /// Features [N, C, h, w] of `images` (computed in chunks; no graph). They must be finite: a
  /// NaN or Inf (a broken backbone or weights file) is an error naming the image, from `names`.
  TensorF compute(const std::vector<const io::Image*>& images, const std::vector<std::string>& names = {}) {
    NoGradGuard ng;
    std::vector<TensorF> parts;
    for (size_t b = 0; b < images.size(); b += size_t(chunk_)) {
      std::vector<io::Image> chunk;
      for (size_t i = b; i < std::min(images.size(), b + size_t(chunk_)); ++i) chunk.push_back(*images[i]);
      parts.push_back(fx_->features(data::images_to_batch<float>(chunk, fx_->normalization()).to(fx_->device())));
    }
    TensorF f = parts.size() == 1 ? parts[0] : cat(parts, 0);
    check_finite(f, names);
    return f;
  }

  /// Compute every training image's features, in index order and fixed chunks: a feature then
  /// never depends on which other images shared its batch, so a resumed run sees the same
  /// numbers as an uninterrupted one.
  void warm(const TrainLoader& loader) {
    std::vector<size_t> all(loader.size());
    std::iota(all.begin(), all.end(), size_t(0));
    for (size_t b = 0; b < all.size(); b += size_t(chunk_))
      lookup(loader, std::vector<size_t>(all.begin() + long(b), all.begin() + long(std::min(all.size(), b + size_t(chunk_)))));
  }

  /// Features of training images by index, computing the missing ones.
  TensorF lookup(const TrainLoader& loader, const std::vector<size_t>& index) {
    std::vector<size_t> todo;
    for (size_t i : index)
      if (!cache_.count(i) && std::find(todo.begin(), todo.end(), i) == todo.end()) todo.push_back(i);
    if (!todo.empty()) {
      std::vector<const io::Image*> ims;
      std::vector<std::string> names;
      for (size_t i : todo) ims.push_back(&loader.image(i)), names.push_back("'" + loader.path(i) + "'");
      TensorF f = compute(ims, names);
      for (size_t k = 0; k < todo.size(); ++k) cache_[todo[k]] = f.select(0, int64_t(k)).clone();
    }
    std::vector<TensorF> rows;
    for (size_t i : index) rows.push_back(cache_.at(i));
    return stack(rows, 0);
  }

private:
  /// One sum per image (a NaN or Inf anywhere makes it non-finite): one small copy to the host,
  /// on any device.
  static void check_finite(const TensorF& f, const std::vector<std::string>& names) {
    TensorF per_image = sum(f.reshape({f.size(0), -1}), {1}).cpu();
    for (int64_t i = 0; i < per_image.numel(); ++i)
      ONENIP_CHECK(std::isfinite(per_image.data()[i]), "the backbone's features of ",
                   size_t(i) < names.size() ? names[size_t(i)] : "image " + std::to_string(i),
                   " hold NaN or Inf (the backbone or its weights are broken)");
  }

  std::shared_ptr<models::FeatureExtractor<float>> fx_;
  int chunk_;
  std::map<size_t, TensorF> cache_;
};

struct EpochStats {
  int64_t epoch = 0, steps = 0, images = 0;
  double loss = 0, mse = 0, dice = 0, seconds = 0;
};

/// Trains one OneNIP model for every class given: the frozen backbone's features, AdamW, clipping
/// and the step schedule, on one process or data parallel (see trainer.hpp).
class Trainer {
public:
  explicit Trainer(TrainConfig cfg, std::shared_ptr<distributed::Communicator> comm = nullptr)
      : cfg_(std::move(cfg)), comm_(comm ? std::move(comm) : std::make_shared<distributed::SingleProcess>()) {
    cfg_.validate();
    // stored absolute in config.json, so the run folder works from any working directory
    if (!cfg_.weights.empty()) cfg_.weights = std::filesystem::absolute(cfg_.weights).lexically_normal().string();
    classes_ = data::discover_datasets(cfg_.data, {});
    extractor_ = models::make_backbone<float>(cfg_.backbone, cfg_.weights);
    cfg_.model.feature_channels = extractor_->channels();
    model_ = std::make_shared<models::OneNIP<float>>(cfg_.model);
    // initialised on the host (the same numbers on every device), then moved with the backbone
    model_->to(cfg_.device);
    extractor_->to(cfg_.device);
    LoaderOptions lo;
    lo.image_size = int(cfg_.model.image_size);
    lo.batch_size = cfg_.batch_size;
    lo.seed = cfg_.seed;
    lo.workers = cfg_.workers;
    lo.textures = cfg_.textures;
    lo.fixed_prompt = cfg_.fixed_prompt;
    lo.shard_rank = comm_->rank(), lo.shard_count = comm_->size();
    loader_ = std::make_unique<TrainLoader>(classes_, lo);
    check_shards();
    ONENIP_CHECK(comm_->device() == Device::CPU || comm_->device() == cfg_.device, "train: the ", comm_->name(),
                 " communicator sums ", device_name(comm_->device()), " buffers, but the model trains on ",
                 device_name(cfg_.device), ": use --device ", device_name(comm_->device()));
    if (cfg_.sync_bn && comm_->size() > 1 && model_->refiner)  // the refiner holds the model's only batch norms
      for (auto& bn : {model_->refiner->bn1, model_->refiner->bn2}) bn->sync_group = comm_;
    distributed::broadcast_(model_->parameters(), *comm_);  // the same start everywhere, whatever seeded it
    optimizer_ = std::make_unique<optim::AdamW<float>>(
        model_->parameters(), optim::AdamW<float>::Options{.lr = cfg_.lr, .weight_decay = cfg_.weight_decay});
    schedule_ = std::make_unique<optim::StepLR<float>>(*optimizer_, cfg_.lr_step, cfg_.lr_gamma);
    features_ = std::make_unique<FeatureCache>(extractor_);
    try {
      features_->warm(*loader_);
    } catch (const Error& e) {
      onenip::detail::fail("train: ", e.what(), "; ", last_good_checkpoint());
    }
  }

  /// Asked after every step with the global step count; true ends run() there with a checkpoint
  /// (mid-epoch too: it holds the epoch's position, and resume continues bit-exactly). The CLI
  /// sets it from SIGINT / SIGTERM. Single process only: ranks would stop at different steps.
  std::function<bool(int64_t global_step)> should_stop;
  /// Whether the last run() ended through should_stop (false: it trained every epoch).
  bool stopped() const { return stopped_; }
  FeatureCache& features() { return *features_; }

  /// Shared, so a Detector built after training (or anything else) can keep using them.
  const std::shared_ptr<models::OneNIP<float>>& model() const { return model_; }
  const std::shared_ptr<models::FeatureExtractor<float>>& extractor() const { return extractor_; }
  const TrainLoader& loader() const { return *loader_; }
  const std::vector<data::ClassData>& classes() const { return classes_; }
  const TrainConfig& config() const { return cfg_; }
  int64_t epoch() const { return epoch_; }
  int64_t global_step() const { return global_step_; }
  distributed::Communicator& communicator() const { return *comm_; }
  const optim::AdamW<float>& optimizer() const { return *optimizer_; }

  /// One optimisation step on (this rank's shard of) a batch; returns the global batch's
  /// (total, mse, dice).
  std::array<double, 3> step(const TrainBatch& b) {
    model_->train();
    const bool synthetic = cfg_.model.restoration || cfg_.model.refiner;
    TensorF fq, fp, fs;
    try {
      fq = features_->lookup(*loader_, b.query);
      fp = features_->lookup(*loader_, b.prompt);
      if (synthetic) {
        std::vector<const io::Image*> syn;
        std::vector<std::string> names;
        for (size_t i = 0; i < b.synthetic.size(); ++i)
          syn.push_back(&b.synthetic[i]), names.push_back("the synthetic anomaly made from '" + loader_->path(b.query[i]) + "'");
        fs = features_->compute(syn, names);
      }
    } catch (const Error& e) {
      onenip::detail::fail("training stopped at ", where(b), ": ", e.what(), "; ", last_good_checkpoint());
    }
    // refiner targets: all-zero masks for the clean queries, then the synthetic masks
    const int64_t S = cfg_.model.image_size;
    std::vector<TensorF> masks(b.query.size(), zeros<float>({1, S, S}));
    for (auto& m : b.masks) masks.push_back(data::mask_to_tensor<float>(m));
    MatmulPrecisionGuard precision(cfg_.precision);  // forward and backward
    // dropout and jitter draw this rank's rows of the global batch's noise (keyed by the sample's
    // global position, so the run does not depend on the number of ranks)
    BatchShardGuard shard(model_->noise_generator(), {int64_t(b.global_offset), int64_t(b.query.size()),
                                                      int64_t(b.global_size)});
    auto out = model_->forward_train(fq, fs, fp);
    auto loss = model_->loss(out, stack(masks, 0).to(cfg_.device));
    double total = loss.total.item();
    ONENIP_CHECK(std::isfinite(total), "training diverged: the loss is ", total, " at ", where(b), " (mse ",
                 loss.mse.item(), "); ", last_good_checkpoint());
    optimizer_->zero_grad();
    // this rank's share of the global batch's mean loss (the losses are means over samples)
    const double share = double(b.query.size()) / double(std::max<size_t>(b.global_size, 1));
    (comm_->size() > 1 ? loss.total * float(share) : loss.total).backward();
    std::array<double, 3> losses{total, loss.mse.item(), loss.dice.defined() ? loss.dice.item() : 0.0};
    if (comm_->size() > 1) losses = sum_gradients(losses, share);
    if (cfg_.clip > 0) {  // the norm comes free with clipping: a NaN or Inf stops before the weights take it
      const double norm = optim::clip_grad_norm_(optimizer_->params(), cfg_.clip);
      ONENIP_CHECK(std::isfinite(norm), "training diverged: the gradient norm is ", norm, " at ", where(b), "; ",
                   last_good_checkpoint());
    }
    optimizer_->step();
    ++global_step_;
    return losses;
  }

  /// Train epochs [epoch(), cfg.epochs), checkpointing every cfg.save_every and at the end.
  std::vector<EpochStats> run(std::FILE* progress = stderr) {
    const bool writer = comm_->is_root();
    if (!writer) progress = nullptr;
    if (writer) {
      std::filesystem::create_directories(cfg_.out);
      std::filesystem::remove(io::temp_path_for(checkpoint_path()));  // left by a run killed while writing it
      save_config();
    }
    std::ofstream log;
    if (writer) {
      log.open(cfg_.out + "/train.log", std::ios::app);
      ONENIP_CHECK(log.is_open(), "train: cannot open '", cfg_.out, "/train.log' for writing: ", std::strerror(errno));
    }
    std::vector<EpochStats> history;
    stopped_ = false;
    while (epoch_ < cfg_.epochs) {
      schedule_->step(epoch_);
      EpochStats st;
      st.epoch = epoch_;
      if (partial_ && partial_->epoch == epoch_) st = *partial_;  // resumed mid-epoch: the steps done so far
      partial_.reset();
      auto t0 = std::chrono::steady_clock::now();
      loader_->start_epoch(epoch_, st.steps);
      TrainBatch b;
      int64_t total_steps = loader_->steps_per_epoch();
      if (cfg_.max_steps > 0) total_steps = std::min(total_steps, cfg_.max_steps);
      while (st.steps < total_steps && !stopped_ && loader_->next(b)) {
        auto l = step(b);
        st.steps++;
        st.images += int64_t(b.global_size);
        st.loss += l[0], st.mse += l[1], st.dice += l[2];
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        report(progress, st, total_steps, secs, l);
        log << "epoch " << epoch_ + 1 << " step " << st.steps << " loss " << l[0] << " mse " << l[1] << " dice "
            << l[2] << " lr " << optimizer_->lr() << "\n";
        stopped_ = should_stop && should_stop(global_step_);
      }
      loader_->stop();
      if (stopped_ && st.steps < total_steps) {  // mid-epoch: keep the epoch's position and running sums
        log << "stopped at epoch " << epoch_ + 1 << " step " << st.steps << "\n";
        if (writer) save_checkpoint(checkpoint_path(), &st);
        return history;
      }
      st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      st.loss /= double(std::max<int64_t>(st.steps, 1));
      st.mse /= double(std::max<int64_t>(st.steps, 1));
      st.dice /= double(std::max<int64_t>(st.steps, 1));
      if (progress) std::fprintf(progress, "\n");
      log << "epoch " << epoch_ + 1 << " done: loss " << st.loss << " mse " << st.mse << " dice " << st.dice << " in "
          << st.seconds << " s\n";
      log.flush();
      history.push_back(st);
      ++epoch_;
      if (writer && (stopped_ || epoch_ % cfg_.save_every == 0 || epoch_ == cfg_.epochs)) save_checkpoint(checkpoint_path());
      if (stopped_) break;
    }
    return history;
  }

  std::string checkpoint_path() const { return cfg_.out + "/checkpoint.safetensors"; }

  /// `partial`: the stats of an unfinished epoch (a checkpoint from should_stop); null at an
  /// epoch's end. The weights must be finite: a checkpoint never replaces a good one with NaN.
  void save_checkpoint(const std::string& path, const EpochStats* partial = nullptr) {
    for (auto& [name, p] : model_->named_parameters())
      ONENIP_CHECK(std::isfinite(sum(p).item()), "training diverged: parameter '", name, "' holds NaN or Inf after ",
                   global_step_, " steps, so '", path, "' was not written; ", last_good_checkpoint());
    io::TrainingState<float> s = state();
    if (partial)
      s.extra["epoch_position"] = {{"steps", partial->steps}, {"images", partial->images}, {"loss", partial->loss},
                                   {"mse", partial->mse}, {"dice", partial->dice}};
    io::save_checkpoint(path, s);
  }

  /// Continue from a checkpoint written by save_checkpoint (same configuration), at an epoch's
  /// end or (after should_stop) in the middle of one.
  void resume(const std::string& path) {
    cfg_.check_resumable(io::read_checkpoint_metadata(path).value("config", nlohmann::json()), path);
    io::TrainingState<float> s = state();
    io::load_checkpoint(path, s);
    epoch_ = s.epoch;
    global_step_ = s.global_step;
    partial_.reset();
    if (s.extra.contains("epoch_position")) {
      try {
        const nlohmann::json& p = s.extra["epoch_position"];
        partial_ = EpochStats{.epoch = epoch_, .steps = p.at("steps").get<int64_t>(),
                              .images = p.at("images").get<int64_t>(), .loss = p.at("loss").get<double>(),
                              .mse = p.at("mse").get<double>(), .dice = p.at("dice").get<double>()};
      } catch (const nlohmann::json::exception& e) {
        onenip::detail::fail("checkpoint '", path, "': bad extra.epoch_position: ", e.what());
      }
    }
  }

  /// For error messages: what the run can continue from ("--resume").
  std::string last_good_checkpoint() const {
    const std::string path = checkpoint_path();
    if (!comm_->is_root()) return "rank 0 writes the checkpoints (" + path + ")";
    if (!std::filesystem::exists(path)) return "no checkpoint has been written yet";
    try {
      nlohmann::json md = io::read_checkpoint_metadata(path);
      return "the last good checkpoint is '" + path + "' (saved after epoch " +
             std::to_string(md.at("epoch").get<int64_t>()) + ", global step " +
             std::to_string(md.at("global_step").get<int64_t>()) + "), kept as it was";
    } catch (const std::exception& e) {
      return "'" + path + "' is not a usable checkpoint (" + e.what() + ")";
    }
  }

private:
  /// Every rank needs at least one sample of every batch (the last one of an epoch may be short).
  void check_shards() const {
    const size_t n = loader_->size(), B = size_t(cfg_.batch_size), last = n % B == 0 ? B : n % B;
    const size_t ranks = size_t(comm_->size());
    ONENIP_CHECK(last >= ranks, "train: ", ranks, " ranks need at least ", ranks,
                 " samples in every batch; the batch size ", B, " over ", n,
                 " training images leaves a last batch of ", last, ": change --batch or the number of ranks");
  }

  /// One all-reduce over the gradients and the share-weighted losses together: afterwards every
  /// rank holds the global batch's gradient and losses. The bucket lives beside the parameters
  /// (on a GPU, NCCL reduces it there; MPI takes it through the host).
  std::array<double, 3> sum_gradients(const std::array<double, 3>& losses, double share) {
    std::vector<TensorF> grads;
    for (auto& p : optimizer_->params())  // every rank runs the same graph: the same parameters have gradients
      if (p.grad().defined()) grads.push_back(p.grad());
    TensorF shared = TensorF::empty({3});
    for (size_t i = 0; i < 3; ++i) shared.data()[i] = float(losses[i] * share);
    grads.push_back(shared.to(cfg_.device));
    TensorF bucket = distributed::flatten_all(grads);
    distributed::all_reduce_sum_(bucket, *comm_);
    distributed::unflatten_into(bucket, grads);
    TensorF global = grads.back().cpu();
    return {global.data()[0], global.data()[1], global.data()[2]};
  }

  io::TrainingState<float> state() {
    io::TrainingState<float> s;
    s.model = model_.get();
    s.optimizer = optimizer_.get();
    s.schedule = schedule_.get();
    s.generators["noise"] = &model_->noise_generator();
    s.epoch = epoch_;
    s.global_step = global_step_;
    s.config = cfg_.to_json();
    return s;
  }

  std::string where(const TrainBatch& b) const {
    return "epoch " + std::to_string(epoch_ + 1) + " step " + std::to_string(b.step + 1) + " (global step " +
           std::to_string(global_step_ + 1) + ")";
  }

  void save_config() const {
    io::write_file_atomically(cfg_.out + "/config.json", cfg_.to_json().dump(2) + "\n", "train");
  }

  void report(std::FILE* f, const EpochStats& st, int64_t total, double secs, const std::array<double, 3>& l) const {
    if (!f) return;
    double ips = double(st.images) / std::max(secs, 1e-9);
    double eta = double(total - st.steps) * secs / double(std::max<int64_t>(st.steps, 1));
    int width = 24, done = int(double(width) * double(st.steps) / double(std::max<int64_t>(total, 1)));
    std::string bar = std::string(size_t(done), '#') + std::string(size_t(width - done), '.');
    std::fprintf(f, "%sepoch %lld/%lld [%s] %lld/%lld loss %.4f (mse %.4f dice %.4f) %.1f img/s ETA %.0fs%s",
                 isatty(fileno(f)) ? "\r" : "", (long long)epoch_ + 1, (long long)cfg_.epochs, bar.c_str(),
                 (long long)st.steps, (long long)total, l[0], l[1], l[2], ips, eta, isatty(fileno(f)) ? "" : "\n");
    std::fflush(f);
  }

  TrainConfig cfg_;
  std::shared_ptr<distributed::Communicator> comm_;
  std::vector<data::ClassData> classes_;
  std::shared_ptr<models::FeatureExtractor<float>> extractor_;
  std::shared_ptr<models::OneNIP<float>> model_;
  std::unique_ptr<TrainLoader> loader_;
  std::unique_ptr<optim::AdamW<float>> optimizer_;
  std::unique_ptr<optim::StepLR<float>> schedule_;
  std::unique_ptr<FeatureCache> features_;
  int64_t epoch_ = 0, global_step_ = 0;
  std::optional<EpochStats> partial_;  ///< resumed mid-epoch: the unfinished epoch's stats so far
  bool stopped_ = false;
};

}  // namespace onenip::pipeline

/// \file
/// The training data loader: one model for every class (the unified setting).
///
/// Every training image is decoded and resized to S x S once, up front (in parallel), and kept
/// as uint8 (224 x 224 x 3 = 150 KB an image). Each step needs B queries, a prompt per query
/// (a random training image of the same class) and a synthetic anomaly made from each query
/// (docs/onenip.md, section 4); worker threads build the batches ahead of the training step, so
/// the compute never waits on them.
///
/// Determinism: the epoch's order comes from a generator keyed by (seed, epoch), and every
/// sample's prompt and synthesis from one keyed by (seed, epoch, position): the batches are the
/// same whatever the number of workers or how the threads interleave. Data parallelism: rank r
/// of N builds only its shard of each global batch (distributed::shard_of), with the same keys,
/// so the global batch is the same whatever the number of ranks.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "../data/dataset.hpp"
#include "../core/parallel.hpp"
#include "../autograd.hpp"
#include "../data/synthesis.hpp"
#include "../distributed/communicator.hpp"

namespace onenip::pipeline {

struct TrainBatch {
  int64_t epoch = 0, step = 0;
  size_t global_size = 0;              ///< samples in the global batch (all ranks); query.size() is this rank's
  size_t global_offset = 0;            ///< position of this rank's first sample in the global batch
  std::vector<size_t> query;           ///< indices into TrainLoader::images()
  std::vector<size_t> prompt;          ///< one per query, same class
  std::vector<io::Image> synthetic;    ///< S x S x 3, made from the query image
  std::vector<io::Image> masks;        ///< S x S x 1, 0 / 255
  std::vector<std::string> kinds;      ///< "cutpaste", "scar", "perlin"
};

struct LoaderOptions {
  int image_size = 224;
  int batch_size = 8;
  uint64_t seed = 133;
  int workers = 2;         ///< threads building batches
  int prefetch = 4;        ///< batches ready ahead at most
  bool fixed_prompt = false;  ///< true: every query of a class gets the class's first image
  std::string textures;    ///< folder of texture images for the Perlin paste ("" = generated)
  int shard_rank = 0, shard_count = 1;  ///< this rank's shard of every batch, of shard_count
};

class TrainLoader {
public:
  TrainLoader(const std::vector<data::ClassData>& classes, LoaderOptions opt)
      : opt_(std::move(opt)), textures_(opt_.textures) {
    ONENIP_CHECK(opt_.batch_size > 0, "loader: batch size must be positive, got ", opt_.batch_size);
    for (size_t c = 0; c < classes.size(); ++c) {
      ONENIP_CHECK(!classes[c].train.empty(), "loader: class '", classes[c].name, "' has no training images");
      class_names_.push_back(classes[c].name);
      std::vector<size_t> members;
      for (auto& s : classes[c].train) {
        members.push_back(paths_.size());
        paths_.push_back(s.image);
        class_of_.push_back(c);
      }
      members_.push_back(std::move(members));
    }
    ONENIP_CHECK(!paths_.empty(), "loader: no training images");
    images_.resize(paths_.size());
    // decode and resize every training image once, in parallel; the first failure is reported
    std::string error;
    std::mutex m;
    parallel_for(int64_t(paths_.size()), 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        try {
          images_[size_t(i)] = data::resize_image(io::load_image(paths_[size_t(i)], 3), opt_.image_size, opt_.image_size);
        } catch (const std::exception& ex) {
          std::lock_guard<std::mutex> lock(m);
          if (error.empty()) error = ex.what();
        }
      }
    });
    ONENIP_CHECK(error.empty(), "loader: ", error);
    // crops of other training images are one of the generated texture kinds (docs/onenip.md, section 4)
    textures_.set_image_crops([this](Generator& g) { return images_[size_t(g.randint(0, int64_t(images_.size())))]; });
  }

  ~TrainLoader() { stop(); }

  size_t size() const { return paths_.size(); }
  const io::Image& image(size_t i) const { return images_.at(i); }
  const std::string& path(size_t i) const { return paths_.at(i); }
  size_t class_of(size_t i) const { return class_of_.at(i); }
  const std::vector<std::string>& class_names() const { return class_names_; }
  const std::vector<size_t>& class_members(size_t c) const { return members_.at(c); }
  int64_t steps_per_epoch() const { return int64_t((paths_.size() + size_t(opt_.batch_size) - 1) / size_t(opt_.batch_size)); }
  const LoaderOptions& options() const { return opt_; }

  /// The shuffled order of an epoch (Fisher-Yates with a generator keyed by seed and epoch).
  std::vector<size_t> epoch_order(int64_t epoch) const {
    std::vector<size_t> order(paths_.size());
    std::iota(order.begin(), order.end(), size_t(0));
    Generator g(opt_.seed);
    g.set_state(opt_.seed, uint64_t(epoch) << 40);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(g.randint(0, int64_t(i)))]);
    return order;
  }

  /// Build one batch directly (what the workers run).
  TrainBatch make_batch(int64_t epoch, int64_t step) const {
    auto order = epoch_order(epoch);
    TrainBatch b;
    b.epoch = epoch;
    b.step = step;
    size_t begin = size_t(step) * size_t(opt_.batch_size), end = std::min(order.size(), begin + size_t(opt_.batch_size));
    ONENIP_CHECK(begin < end, "loader: step ", step, " is past the end of epoch ", epoch);
    b.global_size = end - begin;
    const distributed::Shard mine = distributed::shard_of(end - begin, opt_.shard_rank, opt_.shard_count);
    b.global_offset = mine.begin;
    for (size_t pos = begin + mine.begin; pos < begin + mine.end; ++pos) {
      size_t q = order[pos];
      Generator g(opt_.seed + 1);
      g.set_state(opt_.seed + 1, (uint64_t(epoch) << 40) | (uint64_t(pos) << 20));
      const auto& same = members_[class_of_[q]];
      size_t prompt = opt_.fixed_prompt ? same.front() : same[size_t(g.randint(0, int64_t(same.size())))];
      data::Synthetic s = data::synthesize_anomaly(images_[q], textures_, g);
      b.query.push_back(q);
      b.prompt.push_back(prompt);
      b.synthetic.push_back(std::move(s.image));
      b.masks.push_back(std::move(s.mask));
      b.kinds.push_back(std::move(s.kind));
    }
    return b;
  }

  /// Start producing the batches of `epoch` from `first_step` on worker threads.
  void start_epoch(int64_t epoch, int64_t first_step = 0) {
    stop();
    epoch_ = epoch;
    next_take_ = first_step;
    next_make_ = first_step;
    stopping_ = false;
    ready_.clear();
    for (int w = 0; w < std::max(1, opt_.workers); ++w) threads_.emplace_back([this] { work(); });
  }

  /// The next batch of the current epoch, in order; false at the end of the epoch.
  bool next(TrainBatch& out) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (next_take_ >= steps_per_epoch()) return false;
    cv_.wait(lock, [&] { return ready_.count(next_take_) > 0 || !error_.empty(); });
    ONENIP_CHECK(error_.empty(), "loader worker failed: ", error_);
    out = std::move(ready_[next_take_]);
    ready_.erase(next_take_++);
    cv_.notify_all();
    return true;
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

private:
  void work() {
    for (;;) {
      int64_t step;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || next_make_ < next_take_ + opt_.prefetch; });
        if (stopping_ || next_make_ >= steps_per_epoch()) return;
        step = next_make_++;
      }
      TrainBatch b;
      std::string err;
      try {
        NoGradGuard ng;
        b = make_batch(epoch_, step);
      } catch (const std::exception& e) {
        err = e.what();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      if (!err.empty()) error_ = err;
      else ready_[step] = std::move(b);
      cv_.notify_all();
    }
  }

  LoaderOptions opt_;
  data::TextureSource textures_;
  std::vector<std::string> paths_, class_names_;
  std::vector<size_t> class_of_;
  std::vector<std::vector<size_t>> members_;
  std::vector<io::Image> images_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::map<int64_t, TrainBatch> ready_;
  int64_t epoch_ = 0, next_take_ = 0, next_make_ = 0;
  bool stopping_ = false;
  std::string error_;
};

}  // namespace onenip::pipeline

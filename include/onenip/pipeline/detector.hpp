/// \file
/// The trained detector: backbone + OneNIP + a prompt pool, loaded once, scoring one image or many.
///
/// Prompt pool (paper Sec. 3.5; docs/onenip.md, section 7): one normal image per class, kept as its
/// backbone features in the run folder, so inference needs no training data. A query's prompt is
/// either its known class (`known-class`, the benchmark protocol) or the class whose prompt is
/// closest by cosine similarity of token-mean input projections (`cosine`, for new images).
///
/// Fusion (docs/onenip.md, section 7): map = 0.5 S_rec + 0.5 scale S_ref. The default scale comes
/// from a pass over training images and is stored with the model, so one image scores the same
/// alone or in a batch; `reference` mode sets it from the test run instead, as the authors' code
/// does (Evaluator). Image score: max of the 16 x 16 stride-1 average pool of the map.
#pragma once

#include "../eval/decision.hpp"
#include "../ops/pool.hpp"
#include "../ops/resize.hpp"
#include "thresholds.hpp"
#include "trainer.hpp"

namespace onenip::pipeline {

enum class PromptSelection { KnownClass, Cosine };

/// What scoring one image gives: its score and maps, and the decision when there are thresholds.
struct Score {
  double image_score = 0;
  TensorF map;        ///< [S, S] fused anomaly map
  TensorF rec, ref;   ///< [S, S] S_rec and S_ref (ref undefined without refiner)
  std::string cls;    ///< the prompt's class
  /// The decision, when the detector has thresholds (thresholds.json, or set_thresholds):
  bool decided = false, anomalous = false;
  double normalized = NAN;           ///< normalised image score; 0.5 is the boundary (NaN: uncalibrated)
  TensorF full_map;                  ///< the map at the image's original size [H, W]
  io::Image mask;                    ///< H x W grey, 255 where the pixel score >= the pixel threshold
  std::vector<eval::Region> regions; ///< its connected components, largest first
};

/// The trained detector: backbone, OneNIP and a prompt pool loaded once from a run folder, scoring
/// one image or many and deciding at its thresholds (see detector.hpp).
class Detector {
public:
  /// The prompt pool's file in a run folder (written by save_pool, beside the checkpoint).
  static std::string pool_path(const std::string& run) { return run + "/prompts.safetensors"; }

  /// `run`: a run folder (holding checkpoint.safetensors and prompts.safetensors), loaded onto
  /// `device` (wherever it was trained).
  explicit Detector(const std::string& run, const std::string& weights_override = "", Device device = Device::CPU) {
    namespace fs = std::filesystem;
    ONENIP_CHECK(fs::is_directory(run), "detector: '", run, "' is not a run folder");
    std::string ckpt = run + "/checkpoint.safetensors";
    ONENIP_CHECK(fs::exists(ckpt), "detector: no checkpoint.safetensors in '", run, "' (train first)");
    auto meta = io::read_checkpoint_metadata(ckpt);
    ONENIP_CHECK(meta.contains("config"), "detector: checkpoint '", ckpt, "' has no config in its __metadata__");
    try {
      cfg_.update(meta["config"]);
      cfg_.check_values("config");
    } catch (const Error& e) {
      onenip::detail::fail("detector: checkpoint '", ckpt, "': ", e.what());
    }
    if (!weights_override.empty()) cfg_.weights = weights_override;
    ONENIP_CHECK(cfg_.weights.empty() || fs::is_regular_file(cfg_.weights), "detector: backbone weights file '",
                 cfg_.weights, "' does not exist", weights_override.empty() ? " (the path the run was trained with)" : "",
                 "; pass --weights PATH to say where the weights file is now");
    extractor_ = models::make_backbone<float>(cfg_.backbone, cfg_.weights);
    check_device_available(device, "detector");
    cfg_.device = device;
    extractor_->to(device);
    model_ = std::make_shared<models::OneNIP<float>>(cfg_.model);
    model_->to(device);
    io::TrainingState<float> state;  // the model alone: the optimiser's state stays in the file
    state.model = model_.get();
    io::load_checkpoint(ckpt, state);
    model_->eval();
    load_pool(run);
    thresholds_ = Thresholds::load(run);
  }

  /// Build from live objects, such as a Trainer's model() and extractor() after training: the
  /// detector shares them (and switches the model to eval mode).
  Detector(std::shared_ptr<models::OneNIP<float>> model, std::shared_ptr<models::FeatureExtractor<float>> extractor,
           TrainConfig cfg)
      : cfg_(std::move(cfg)), extractor_(std::move(extractor)), model_(std::move(model)) {
    ONENIP_CHECK(model_ && extractor_, "detector: the model and the feature extractor must both be given");
    cfg_.device = extractor_->device();
    model_->eval();
  }

  const std::shared_ptr<models::OneNIP<float>>& model() const { return model_; }
  const std::shared_ptr<models::FeatureExtractor<float>>& extractor() const { return extractor_; }
  const TrainConfig& config() const { return cfg_; }
  int64_t image_size() const { return cfg_.model.image_size; }
  Device device() const { return extractor_->device(); }
  const std::vector<std::string>& classes() const { return names_; }
  double fusion_scale() const { return scale_; }
  void set_fusion_scale(double s) { scale_ = s; }
  /// The operating point of score(): from the run folder's thresholds.json, or set here.
  const std::optional<Thresholds>& thresholds() const { return thresholds_; }
  void set_thresholds(std::optional<Thresholds> t) { thresholds_ = std::move(t); }

  /// Register a class's prompt by its backbone features [C, h, w].
  void add_prompt(const std::string& cls, const TensorF& features) {
    NoGradGuard ng;
    TensorF f = (features.dim() == 3 ? features.unsqueeze(0) : features).to(device());
    names_.push_back(cls);
    prompt_features_.push_back(f.clone());
    prompt_tokens_.push_back(model_->encode_prompt(f));
    prompt_signature_.push_back(signature(f));
  }
  const TensorF& prompt_features(size_t i) const { return prompt_features_.at(i); }

  /// Features of uint8 images of any size (resized to S x S here).
  TensorF features(const std::vector<io::Image>& images) {
    std::vector<io::Image> resized;
    for (auto& im : images) resized.push_back(data::resize_image(im.channels == 3 ? im : io::convert_channels(im, 3),
                                                                    int(image_size()), int(image_size())));
    NoGradGuard ng;
    return extractor_->features(data::images_to_batch<float>(resized, extractor_->normalization()).to(device()));
  }

  /// Index of the prompt for query features fq [1, C, h, w].
  size_t choose_prompt(const TensorF& fq, PromptSelection how, const std::string& known) const {
    if (how == PromptSelection::KnownClass) {
      auto it = std::find(names_.begin(), names_.end(), known);
      ONENIP_CHECK(it != names_.end(), "detector: class '", known, "' has no prompt (classes: ", join(names_), ")");
      return size_t(it - names_.begin());
    }
    ONENIP_CHECK(!names_.empty(), "detector: the prompt pool is empty");
    TensorF q = signature(fq);
    size_t best = 0;
    double best_sim = -2;
    for (size_t i = 0; i < names_.size(); ++i) {
      double sim = sum(q * prompt_signature_[i]).item();
      if (sim > best_sim) best_sim = sim, best = i;
    }
    return best;
  }

  /// S_rec and S_ref of query features fq [N, C, h, w] against prompt i, on the host (maps are
  /// small; everything after them, fusion, decisions and reports, reads them there).
  models::OneNIP<float>::Maps raw_maps(const TensorF& fq, size_t prompt) {
    NoGradGuard ng;
    MatmulPrecisionGuard precision(cfg_.precision);
    auto m = model_->forward_eval(fq, prompt_tokens_.at(prompt));
    m.rec = m.rec.cpu();
    if (m.ref.defined()) m.ref = m.ref.cpu();
    return m;
  }

  /// Fused map [S, S] and image score.
  Score fuse(const TensorF& rec, const TensorF& ref) const {
    Score s;
    s.rec = rec;
    s.ref = ref;
    s.map = ref.defined() ? rec * 0.5f + ref * float(0.5 * scale_) : rec;
    s.image_score = image_score(s.map);
    return s;
  }

  /// Score one image (any size); `known` is used with KnownClass.
  Score score(const io::Image& image, PromptSelection how = PromptSelection::Cosine, const std::string& known = "") {
    return std::move(score(std::vector<io::Image>{image}, how, known).front());
  }

  /// Score images (any sizes) in one backbone pass and one model pass per chosen prompt; each
  /// gets the same result as alone (the model treats the images of a batch independently).
  std::vector<Score> score(const std::vector<io::Image>& images, PromptSelection how = PromptSelection::Cosine,
                           const std::string& known = "") {
    if (images.empty()) return {};
    TensorF fq = features(images);
    std::vector<size_t> prompt(images.size());
    for (size_t i = 0; i < images.size(); ++i) prompt[i] = choose_prompt(fq.narrow(0, int64_t(i), 1), how, known);
    std::vector<Score> out(images.size());
    for (size_t p = 0; p < names_.size(); ++p) {
      std::vector<int64_t> members;
      for (size_t i = 0; i < images.size(); ++i)
        if (prompt[i] == p) members.push_back(int64_t(i));
      if (members.empty()) continue;
      auto m = raw_maps(index_select(fq, 0, members), p);
      for (size_t k = 0; k < members.size(); ++k) {
        size_t i = size_t(members[k]);
        out[i] = fuse(m.rec.select(0, int64_t(k)), m.ref.defined() ? m.ref.select(0, int64_t(k)) : TensorF());
        out[i].cls = names_[p];
        if (thresholds_) decide(out[i], images[i].width, images[i].height);
      }
    }
    return out;
  }

  /// The decision at the detector's thresholds: verdict, normalised score, and the mask and its
  /// regions at the original size W x H (the map resized bilinearly, as the overlays show it).
  void decide(Score& s, int W, int H) const {
    ONENIP_CHECK(thresholds_, "detector: no thresholds (run `onenip calibrate`, or give a threshold)");
    const Thresholds& t = *thresholds_;
    s.decided = true;
    s.anomalous = s.image_score >= t.image;
    s.normalized = t.normalize_image(s.image_score);
    s.full_map = resize_bilinear(s.map.reshape({1, 1, s.map.size(0), s.map.size(1)}), H, W, false)
                     .reshape({H, W}).contiguous();
    const float* v = s.full_map.data();
    s.mask = io::Image(W, H, 1, 0);
    std::vector<uint8_t> bin(size_t(W) * size_t(H));
    for (size_t p = 0; p < bin.size(); ++p) bin[p] = v[p] >= t.pixel, s.mask.pixels[p] = bin[p] ? 255 : 0;
    s.regions = eval::regions(bin, std::vector<float>(v, v + bin.size()), H, W);
  }

  /// The authors' image score: max over the 16 x 16 stride-1 average pool (the window clipped to
  /// the map's size).
  static double image_score(const TensorF& map) {
    int64_t k = std::min<int64_t>(16, std::min(map.size(0), map.size(1)));
    TensorF pooled = avg_pool2d(map.reshape({1, 1, map.size(0), map.size(1)}), {k, k}, {1, 1});
    return max(pooled).item();
  }

  /// The run-folder extras written after training: the prompt pool (first training image of each
  /// class) and the fusion scale from a pass over up to `per_class` training images per class.
  void build_from_training(const TrainLoader& loader, FeatureCache& cache, int per_class = 16) {
    NoGradGuard ng;
    names_.clear(), prompt_features_.clear(), prompt_tokens_.clear(), prompt_signature_.clear();
    for (size_t c = 0; c < loader.class_names().size(); ++c)
      add_prompt(loader.class_names()[c], cache.lookup(loader, {loader.class_members(c).front()}));
    double lo = 1e300, hi = -1e300;
    for (size_t c = 0; c < loader.class_names().size(); ++c) {
      const auto& members = loader.class_members(c);
      for (size_t i = 1; i < members.size() && int(i) <= per_class; ++i) {
        auto m = raw_maps(cache.lookup(loader, {members[i]}), c);
        lo = std::min(lo, double(min(m.rec).item()));
        hi = std::max(hi, double(max(m.rec).item()));
      }
    }
    scale_ = hi >= lo ? (hi + lo) / 2 : 1.0;
  }

  void save_pool(const std::string& run) const {
    std::vector<std::pair<std::string, TensorF>> ts;
    for (size_t i = 0; i < names_.size(); ++i) ts.emplace_back("features." + names_[i], prompt_features_[i].squeeze(0));
    io::save_safetensors<float>(pool_path(run), ts,
                                {{"classes", nlohmann::json(names_).dump()}, {"fusion_scale", std::to_string(scale_)}});
  }

private:
  /// The prompt pool save_pool wrote: its class list, fusion scale and one feature map per class
  /// of the shape this model takes, or an error naming the file and what is wrong.
  void load_pool(const std::string& run) {
    const std::string path = pool_path(run);
    ONENIP_CHECK(std::filesystem::exists(path), "detector: no prompts.safetensors in '", run, "'");
    io::SafeTensorsFile pool(path);
    std::vector<std::string> names;
    try {
      names = nlohmann::json::parse(pool.metadata().at("classes")).get<std::vector<std::string>>();
      scale_ = std::stod(pool.metadata().at("fusion_scale"));
    } catch (const std::exception& e) {
      onenip::detail::fail("detector: prompt pool '", path, "': __metadata__ needs classes (a JSON list of names) and ",
                           "fusion_scale (a number): ", e.what());
    }
    ONENIP_CHECK(!names.empty() && std::isfinite(scale_), "detector: prompt pool '", path, "': ",
                 names.empty() ? "no classes" : "fusion_scale is not finite");
    const Shape want{cfg_.model.feature_channels, cfg_.model.grid(), cfg_.model.grid()};
    for (auto& n : names) {
      const Shape got = pool.info("features." + n).shape;
      ONENIP_CHECK(got == want, "detector: prompt pool '", path, "', tensor 'features.", n, "' is ", shape_str(got),
                   " but this run's backbone and size give ", shape_str(want), " (a pool from another run?)");
      add_prompt(n, pool.get<float>("features." + n));
    }
  }

  /// Unit vector of the token-mean of the input projection (paper 3.5).
  TensorF signature(const TensorF& f) const {
    NoGradGuard ng;
    TensorF t = mean(model_->input_proj->forward(f.flatten(2).transpose(1, 2)), {1}).reshape({-1});
    return t / float(std::sqrt(sum(square(t)).item()) + 1e-12);
  }
  static std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  }

  TrainConfig cfg_;
  std::shared_ptr<models::FeatureExtractor<float>> extractor_;
  std::shared_ptr<models::OneNIP<float>> model_;
  std::vector<std::string> names_;
  std::vector<TensorF> prompt_features_, prompt_tokens_, prompt_signature_;
  double scale_ = 1.0;
  std::optional<Thresholds> thresholds_;
};

}  // namespace onenip::pipeline

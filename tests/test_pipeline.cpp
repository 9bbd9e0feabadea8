// The whole pipeline on a tiny generated dataset: train, checkpoint, resume, detector, evaluate,
// report. A small model and 64 x 64 inputs keep it fast.
#include <onenip/data/demo_dataset.hpp>
#include <onenip/pipeline/calibrate.hpp>
#include <onenip/pipeline/report.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <type_traits>

#include "file_helpers.hpp"
#include "helpers.hpp"
#include "tiny_train_config.hpp"

using namespace onenip;
namespace fs = std::filesystem;

namespace {
// Folders are unique per process: ctest runs these test cases as parallel processes.
std::string tiny_dataset() {
  static testing::TempDir dir;
  static std::string root = [] {
    fs::path r = dir.path() / "data";
    data::DemoDatasetOptions o;
    o.size = 64, o.train_per_class = 6, o.good_test_per_class = 2, o.defects_per_kind = 1;
    data::write_demo_dataset(r.string(), o);
    return r.string();
  }();
  return root;
}
pipeline::TrainConfig tiny_config(const std::string& out) {
  pipeline::TrainConfig c = testing::tiny_train_config(tiny_dataset(), out);
  c.epochs = 2;
  c.batch_size = 4;
  c.save_every = 1;
  c.workers = 2;
  return c;
}
std::vector<std::pair<std::string, TensorF>> params(pipeline::Trainer& t) { return t.model()->named_parameters(); }

// Move a field off its value; k makes the new values differ from field to field.
template <typename T>
void change(T& v, int k) {
  if constexpr (std::is_same_v<T, bool>)
    v = !v;
  else if constexpr (std::is_same_v<T, models::DecoderMode>)
    v = v == models::DecoderMode::Static ? models::DecoderMode::Query : models::DecoderMode::Static;
  else if constexpr (std::is_same_v<T, Device>)
    v = v == Device::CPU ? Device::CUDA : Device::CPU;
  else if constexpr (std::is_same_v<T, MathPrecision>)
    v = v == MathPrecision::BF16 ? MathPrecision::TF32 : MathPrecision::BF16;
  else if constexpr (std::is_same_v<T, nn::DiceForm>)
    v = v == nn::DiceForm::paper ? nn::DiceForm::reference : nn::DiceForm::paper;
  else if constexpr (std::is_floating_point_v<T>)
    v += 0.25 * (k + 1);
  else if constexpr (std::is_integral_v<T>)
    v += T(k + 1);
  else if constexpr (std::is_same_v<T, std::string>)
    v += "_" + std::to_string(k);
  else
    v.push_back("folder_" + std::to_string(k));
}

// The value at a dotted config key.
nlohmann::json at_key(const nlohmann::json& j, std::string key) {
  std::replace(key.begin(), key.end(), '.', '/');
  return j.at(nlohmann::json::json_pointer("/" + key));
}
}  // namespace

TEST_CASE("config: the JSON keys and defaults that config.json files already use") {
  // as every run folder and checkpoint so far has written them
  const auto saved = nlohmann::json::parse(R"({
    "data": [], "backbone": "mobilenetv2", "weights": "", "out": "runs/onenip", "textures": "", "epochs": 1000,
    "batch_size": 8, "lr": 0.0001, "weight_decay": 0.0001, "clip": 0.1, "lr_step": 800, "lr_gamma": 0.1,
    "save_every": 10, "max_steps": -1, "workers": 2, "fixed_prompt": false, "sync_bn": false, "device": "cpu",
    "precision": "fp32", "seed": 133,
    "model": {"feature_channels": 168, "image_size": 224, "hidden": 256, "heads": 8, "ff": 1024,
              "encoder_layers": 4, "decoder_layers": 4, "dropout": 0.1, "jitter_scale": 20.0, "jitter_prob": 1.0,
              "decoder": "bidirectional", "restoration": true, "refiner": true, "dice": "reference",
              "dice_weight": 0.5, "seed": 133}})");
  CHECK(pipeline::TrainConfig{}.to_json() == saved);
  pipeline::TrainConfig c;
  c.update(saved);
  CHECK(c.to_json() == saved);
  // keys name the members they say
  c.update(nlohmann::json::parse(R"({"batch_size": 3, "lr_gamma": 0.5, "seed": 7,
    "model": {"hidden": 48, "decoder": "static", "restoration": false, "dice": "paper", "seed": 9}})"));
  CHECK(c.batch_size == 3);
  CHECK(c.lr_gamma == 0.5);
  CHECK(c.seed == 7);
  CHECK(c.model.hidden == 48);
  CHECK(c.model.decoder == models::DecoderMode::Static);
  CHECK(!c.model.restoration);
  CHECK(c.model.dice == nn::DiceForm::paper);
  CHECK(c.model.seed == 9);
  CHECK(c.epochs == 1000);  // absent keys keep their values
}

TEST_CASE("config: every field round-trips through to_json and update") {
  pipeline::TrainConfig c;
  int k = 0;
  c.visit([&](const pipeline::ConfigField&, auto& v) { change(v, k++); });
  const nlohmann::json j = c.to_json(), defaults = pipeline::TrainConfig{}.to_json();
  pipeline::TrainConfig back;
  back.update(j);
  CHECK(back.to_json() == j);
  std::set<std::string> keys;
  back.visit([&](const pipeline::ConfigField& f, const auto&) {
    INFO("field ", f.key);
    CHECK(keys.insert(f.key).second);  // each key once
    CHECK(at_key(j, f.key) != at_key(defaults, f.key));  // moved off its default, so the check means something
    CHECK(at_key(back.to_json(), f.key) == at_key(j, f.key));
  });
  CHECK(keys.size() == size_t(k));
}

TEST_CASE("config: an unknown key is refused and named, at the top level and under model") {
  pipeline::TrainConfig c;
  const nlohmann::json before = c.to_json();
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json{{"epochs", 3}, {"epochz", 3}}), doctest::Contains("unknown key 'epochz'"),
                       Error);
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json{{"model", {{"hidden", 32}, {"hiden", 32}}}}),
                       doctest::Contains("unknown key 'model.hiden'"), Error);
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json{{"model", 3}}), doctest::Contains("'model' must be a JSON object"), Error);
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json::array()), doctest::Contains("must be a JSON object"), Error);
  CHECK(c.to_json() == before);  // a refused update changes nothing
}

TEST_CASE("config: a value of the wrong type is refused and its key named") {
  pipeline::TrainConfig c;
  const nlohmann::json before = c.to_json();
  auto refused = [&](const char* json, const char* message) {
    INFO(json);
    CHECK_THROWS_WITH_AS(c.update(nlohmann::json::parse(json)), doctest::Contains(message), Error);
    CHECK(c.to_json() == before);  // nothing half-applied
  };
  refused(R"({"epochs": "ten"})", "'epochs': must be an integer");
  refused(R"({"lr": 1e-3, "epochs": 2.5})", "'epochs': must be an integer");
  refused(R"({"seed": -1})", "'seed': must be a non-negative integer");
  refused(R"({"workers": 3000000000})", "'workers': must be an integer that fits 32 bits");
  refused(R"({"lr": "fast"})", "'lr': must be a number");
  refused(R"({"data": "folder"})", "'data': must be a list of strings");
  refused(R"({"backbone": 3})", "'backbone': must be a string");
  refused(R"({"fixed_prompt": 1})", "'fixed_prompt': must be true or false");
  refused(R"({"model": {"hidden": "wide"}})", "'model.hidden': must be an integer");
  refused(R"({"model": {"restoration": "no"}})", "'model.restoration': must be true or false");
  refused(R"({"model": {"decoder": 2}})", "'model.decoder': must be a name");
  refused(R"({"model": {"decoder": "sideways"}})", "'model.decoder': decoder must be bidirectional, static or query; got 'sideways'");
  refused(R"({"model": {"dice": "both"}})", "'model.dice': dice must be reference or paper");
  c.update(nlohmann::json::parse(R"({"epochs": 10.0, "lr": 1})"));  // whole numbers in either form
  CHECK(c.epochs == 10);
  CHECK(c.lr == 1.0);
}

TEST_CASE("config: a value out of range is refused naming the field, its flag, the range and the value") {
  pipeline::TrainConfig c;
  c.data = {"folder"};
  CHECK_NOTHROW(c.validate());
  auto refused = [&](auto set, const char* message) {
    pipeline::TrainConfig bad = c;
    set(bad);
    CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains(message), Error);
  };
  refused([](auto& b) { b.epochs = 0; }, "train: epochs (--epochs) must be at least 1, got 0");
  refused([](auto& b) { b.batch_size = 0; }, "train: batch_size (--batch) must be at least 1, got 0");
  refused([](auto& b) { b.model.image_size = 100; }, "train: model.image_size (--size) must be a multiple of 16");
  refused([](auto& b) { b.model.image_size = 48; }, "train: model.image_size (--size) must be at least 64, got 48");
  refused([](auto& b) { b.lr = NAN; }, "train: lr (--lr) must be greater than 0, got nan");
  refused([](auto& b) { b.model.dropout = 1; }, "train: model.dropout (--dropout) must be in [0, 1), got 1");
  refused([](auto& b) { b.model.jitter_prob = 1.5; }, "model.jitter_prob (--jitter-prob) must be in [0, 1], got 1.5");
  refused([](auto& b) { b.model.feature_channels = 0; }, "train: model.feature_channels must be at least 1, got 0");
  refused([](auto& b) { b.max_steps = -2; }, "max_steps (--max-steps) must be at least -1, got -2");
}

TEST_CASE("resume: a checkpoint of another backbone or model is refused, every differing field named") {
  pipeline::TrainConfig now;
  nlohmann::json saved = now.to_json();
  CHECK_NOTHROW(now.check_resumable(saved, "ckpt"));
  now.epochs = 5, now.lr = 1, now.model.seed = 9;  // training fields and the model's seed may change
  CHECK_NOTHROW(now.check_resumable(saved, "ckpt"));
  now.backbone = "efficientnet-b4", now.model.hidden = 64;
  CHECK_THROWS_WITH_AS(now.check_resumable(saved, "ckpt"),
                       doctest::Contains("resume: checkpoint 'ckpt' holds another model than this run's configuration:\n"
                                         "  backbone (--backbone): \"mobilenetv2\" in the checkpoint, \"efficientnet-b4\" now\n"
                                         "  model.hidden (--hidden): 256 in the checkpoint, 64 now"),
                       Error);
  saved["model"].erase("heads");
  CHECK_THROWS_WITH_AS(now.check_resumable(saved, "ckpt"), doctest::Contains("model.heads (--heads): absent in the checkpoint, 8 now"),
                       Error);
}

TEST_CASE("training runs, writes its run folder, and resume equals an uninterrupted run") {
  testing::TempDir scratch;
  std::string a = scratch / "run_a", b = scratch / "run_b";
  pipeline::Trainer straight(tiny_config(a));
  auto hist = straight.run(nullptr);
  REQUIRE(hist.size() == 2);
  CHECK(hist[0].steps == 5);  // 18 images / 4
  CHECK(std::isfinite(hist[1].loss));
  CHECK(fs::exists(a + "/checkpoint.safetensors"));
  CHECK(fs::exists(a + "/config.json"));
  CHECK(fs::exists(a + "/train.log"));

  auto cfg = tiny_config(b);
  cfg.epochs = 1;
  { pipeline::Trainer first(cfg); first.run(nullptr); }
  cfg.epochs = 2;
  pipeline::Trainer second(cfg);
  second.resume(second.checkpoint_path());
  CHECK(second.epoch() == 1);
  second.run(nullptr);
  auto pa = params(straight), pb = params(second);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO("parameter ", pa[i].first);
    testing::check_close(pa[i].second, pb[i].second, 0, 0);
  }

  // stopped mid-epoch (what SIGINT does in the CLI): the checkpoint holds the epoch's position
  auto mid = tiny_config(scratch / "run_mid");
  {
    pipeline::Trainer first(mid);
    first.should_stop = [](int64_t step) { return step == 3; };
    auto h = first.run(nullptr);
    CHECK(first.stopped());
    CHECK(h.empty());
    CHECK(first.global_step() == 3);
  }
  pipeline::Trainer resumed(mid);
  resumed.resume(resumed.checkpoint_path());
  CHECK(resumed.epoch() == 0);
  auto rest = resumed.run(nullptr);
  REQUIRE(rest.size() == 2);
  CHECK(rest[0].steps == 5);  // the 3 steps before the stop count in the epoch's stats
  CHECK(rest[0].loss == hist[0].loss);
  CHECK_FALSE(resumed.stopped());
  auto pc = params(resumed);
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO("parameter ", pa[i].first);
    testing::check_close(pa[i].second, pc[i].second, 0, 0);
  }
}

namespace {
// MobileNetV2 whose first block overflows: its features are Inf or NaN, from finite weights.
std::shared_ptr<models::MobileNetV2<float>> overflowing_backbone() {
  auto sd = models::pattern_state_dict<float>(models::MobileNetV2<float>::state_dict_spec());
  for (auto& [name, t] : sd)
    if (name.rfind("blocks.0.0.conv_pw.weight", 0) == 0) t.mul_(1e38f);
  return std::make_shared<models::MobileNetV2<float>>(sd);
}
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("non-finite features stop training, naming the image, the step and the last good checkpoint") {
  testing::TempDir scratch;
  pipeline::Trainer t(tiny_config(scratch / "run_inf"));  // 2 epochs of 5 steps, a checkpoint after each
  auto* backbone = dynamic_cast<models::MobileNetV2<float>*>(t.extractor().get());
  REQUIRE(backbone != nullptr);
  // after the first step of epoch 2 the frozen backbone breaks: the clean images' features are
  // cached, but the synthetic anomalies go through it at every step
  std::string saved;
  t.should_stop = [&](int64_t step) {
    if (step == 6) saved = testing::read_bytes(t.checkpoint_path()), *backbone = *overflowing_backbone();
    return false;
  };
  std::string message;
  try {
    t.run(nullptr);
  } catch (const Error& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(contains(message, "training stopped at epoch 2 step 2 (global step 7): the backbone's features of the "
                          "synthetic anomaly made from '"));
  CHECK(contains(message, "hold NaN or Inf"));
  CHECK(contains(message, "the last good checkpoint is '" + t.checkpoint_path() +
                              "' (saved after epoch 1, global step 5), kept as it was"));
  CHECK(!saved.empty());
  CHECK(testing::read_bytes(t.checkpoint_path()) == saved);

  // filling the cache of clean training images names the image
  pipeline::FeatureCache cache(overflowing_backbone());
  CHECK_THROWS_WITH_AS(cache.warm(t.loader()), doctest::Contains(("the backbone's features of '" + t.loader().path(0) +
                                                                  "' hold NaN or Inf").c_str()), Error);
}

TEST_CASE("detector from a run folder: one image scores the same alone and in a batch, then evaluation and report") {
  testing::TempDir scratch;
  std::string run = scratch / "run";
  auto cfg = tiny_config(run);
  cfg.epochs = 1;
  std::optional<pipeline::Detector> live;
  {
    pipeline::Trainer t(cfg);
    t.run(nullptr);
    live.emplace(t.model(), t.extractor(), t.config());
    CHECK(live->model() == t.model());  // shared with the trainer, not copied
    CHECK(live->extractor() == t.extractor());
    live->build_from_training(t.loader(), t.features(), 4);
    live->save_pool(run);
  }
  CHECK(live->model().use_count() == 1);  // the trainer is gone; the detector keeps both alive
  CHECK(live->extractor().use_count() == 1);
  CHECK_THROWS_WITH_AS(pipeline::Detector(nullptr, live->extractor(), cfg), doctest::Contains("model"), Error);
  pipeline::Detector det(run);
  CHECK(det.classes().size() == 3);
  {  // the detector carries the trained weights, not a fresh initialisation
    pipeline::Trainer again(cfg);
    again.resume(again.checkpoint_path());
    auto trained = again.model()->named_parameters(), loaded = det.model()->named_parameters();
    REQUIRE(trained.size() == loaded.size());
    for (size_t i = 0; i < trained.size(); ++i) testing::check_close(loaded[i].second, trained[i].second, 0, 0);
  }
  auto classes = data::discover_datasets({tiny_dataset()}, {});
  io::Image im = io::load_image(classes[0].test.back().image, 3);
  auto alone = det.score(im, pipeline::PromptSelection::KnownClass, classes[0].name);
  CHECK(alone.map.shape() == Shape{64, 64});
  CHECK(alone.cls == classes[0].name);
  // the detector trained in memory scores as the one loaded from the run folder (whose fusion
  // scale went through text)
  CHECK(live->score(im, pipeline::PromptSelection::KnownClass, classes[0].name).image_score ==
        doctest::Approx(alone.image_score).epsilon(1e-4));
  // in a batch with other images
  std::vector<io::Image> batch{io::load_image(classes[1].test[0].image, 3), im, io::load_image(classes[2].test[0].image, 3)};
  TensorF f = det.features(batch);
  auto maps = det.raw_maps(f.narrow(0, 1, 1), 0);
  auto fused = det.fuse(maps.rec.select(0, 0), maps.ref.select(0, 0));
  CHECK(fused.image_score == doctest::Approx(alone.image_score).epsilon(1e-5));
  // cosine selection picks some class and says which
  auto chosen = det.score(im);
  CHECK(!chosen.cls.empty());

  pipeline::EvalOptions opt;
  auto r = pipeline::evaluate(det, classes, opt);
  REQUIRE(r.classes.size() == 3);
  for (auto& m : r.classes) {
    CHECK(m.test_images == 6);
    CHECK(m.anomalous == 4);
    CHECK(!std::isnan(m.image_auroc));
    CHECK(!std::isnan(m.pixel_ap));
  }
  opt.prompt = pipeline::PromptSelection::Cosine;
  opt.reference_fusion = true;
  auto rc = pipeline::evaluate(det, classes, opt);
  CHECK(rc.prompt_mode == "cosine");
  CHECK(!std::isnan(rc.mean.prompt_accuracy));
  pipeline::write_metrics(r, run);
  pipeline::write_report(r, run, "test");
  CHECK(fs::file_size(run + "/report.html") > 1000);
  CHECK(fs::exists(run + "/metrics.csv"));
  CHECK(pipeline::metrics_table(r).find("| mean |") != std::string::npos);
}

TEST_CASE("decisions: calibrated thresholds, normalised scores, masks and regions, batched = one at a time") {
  testing::TempDir scratch;
  std::string run = scratch / "run";
  auto cfg = tiny_config(run);
  cfg.epochs = 1;
  {
    pipeline::Trainer t(cfg);
    t.run(nullptr);
    pipeline::Detector live(t.model(), t.extractor(), t.config());
    live.build_from_training(t.loader(), t.features(), 4);
    live.save_pool(run);
  }
  pipeline::Detector det(run);
  CHECK(!det.thresholds());  // not calibrated yet
  auto classes = data::discover_datasets({tiny_dataset()}, {});
  pipeline::CalibrateOptions co;
  auto t = pipeline::calibrate(det, classes, co, {tiny_dataset()});
  CHECK(t.method == "f1");  // the test sets have defects
  CHECK(t.images.size() == 18);
  CHECK(t.anomalous == 12);
  CHECK(t.image_min <= t.image);
  CHECK(t.image <= t.image_max);
  CHECK(t.normalize_image(t.image) == 0.5);
  CHECK(t.normalize_image(t.image_max + 10 * (t.image_max - t.image_min)) == 1.0);
  CHECK(t.normalize_image(t.image_min - 10 * (t.image_max - t.image_min)) == 0.0);
  {  // the F1-optimal image threshold, recomputed from evaluate's scores
    pipeline::EvalOptions eo;
    auto r = pipeline::evaluate(det, classes, eo);
    std::vector<double> s;
    std::vector<int> l;
    for (auto& c : r.cases) s.push_back(c.score), l.push_back(c.label);
    CHECK(t.image == eval::f1_optimal_threshold(s, l).threshold);
  }
  t.save(run);
  pipeline::Detector calibrated(run);
  REQUIRE(calibrated.thresholds());
  CHECK(calibrated.thresholds()->image == t.image);  // JSON keeps doubles exactly
  CHECK(calibrated.thresholds()->pixel == t.pixel);
  CHECK(calibrated.thresholds()->date == t.date);

  // batched scoring equals one image at a time: scores, decisions, masks, regions
  std::vector<io::Image> ims{io::load_image(classes[0].test.back().image, 3),
                             data::resize_image(io::load_image(classes[1].test[0].image, 3), 80, 48),
                             io::load_image(classes[2].test.back().image, 3)};
  auto batch = calibrated.score(ims);
  REQUIRE(batch.size() == 3);
  CHECK(calibrated.score(std::vector<io::Image>{}).empty());
  for (size_t i = 0; i < ims.size(); ++i) {
    INFO("image ", i);
    auto one = calibrated.score(ims[i]);
    CHECK(one.cls == batch[i].cls);
    CHECK(one.image_score == doctest::Approx(batch[i].image_score).epsilon(1e-6));
    CHECK(batch[i].decided);
    CHECK(one.anomalous == batch[i].anomalous);
    CHECK(batch[i].anomalous == (batch[i].image_score >= t.image));
    CHECK(batch[i].normalized == doctest::Approx(t.normalize_image(batch[i].image_score)));
    CHECK(batch[i].mask.width == ims[i].width);  // at the original size
    CHECK(batch[i].mask.height == ims[i].height);
    CHECK(one.mask.pixels == batch[i].mask.pixels);
    int64_t area = 0;
    for (auto& reg : batch[i].regions) area += reg.area;
    CHECK(area == std::count(batch[i].mask.pixels.begin(), batch[i].mask.pixels.end(), uint8_t(255)));
    for (auto& reg : batch[i].regions) CHECK(reg.peak >= t.pixel);
  }

  // evaluation at the stored thresholds says it was fitted on these images
  pipeline::EvalOptions eo;
  auto r = pipeline::evaluate(calibrated, classes, eo);
  REQUIRE(r.thresholds);
  CHECK(r.fitted_on == 18);
  auto& k = r.mean.counts;
  CHECK(k.tp + k.fp + k.tn + k.fn == 18);
  CHECK(k.tp + k.fn == 12);
  CHECK(r.defects.size() == 12);  // 3 classes x 4 defect kinds
  pipeline::write_report(r, run, "decisions");
  pipeline::write_metrics(r, run);
  std::string html = testing::read_bytes(run + "/report.html");
  CHECK(html.find("id='thr'") != std::string::npos);
  CHECK(html.find("optimistic") != std::string::npos);
  CHECK(html.find("<script src") == std::string::npos);  // self-contained
  CHECK(pipeline::metrics_table(r).find("optimistic") != std::string::npos);

  // normal images only: percentiles of their scores
  co.method = "percentile";
  co.image_percentile = 50;
  auto p = pipeline::calibrate(det, classes, co, {tiny_dataset()});
  CHECK(p.images.size() == 6);
  CHECK(p.anomalous == 0);
  std::vector<double> normal;
  for (auto& c : r.cases)
    if (!c.label) normal.push_back(c.score);
  CHECK(p.image == doctest::Approx(eval::percentile(normal, 50)).epsilon(1e-6));
  auto trained_on = classes;
  trained_on[0].test = trained_on[0].train;
  CHECK_THROWS_WITH_AS(pipeline::calibrate(det, trained_on, co, {}), doctest::Contains("6 of the images are training"), Error);
  co.method = "sideways";
  CHECK_THROWS_WITH_AS(pipeline::calibrate(det, classes, co, {}), doctest::Contains("sideways"), Error);
  std::ofstream(pipeline::Thresholds::path(run)) << "{\"image\": 1}";
  CHECK_THROWS_WITH_AS(pipeline::Detector{run}, doctest::Contains("thresholds.json"), Error);
}

TEST_CASE("bad input: missing data folder, a NaN loss, unknown config keys") {
  testing::TempDir scratch;
  auto cfg = tiny_config(scratch / "run_bad");
  cfg.data = {"/nonexistent/folder"};
  CHECK_THROWS_WITH_AS(pipeline::Trainer{cfg}, doctest::Contains("/nonexistent/folder"), Error);
  pipeline::TrainConfig c;
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json{{"epochz", 3}}), doctest::Contains("epochz"), Error);
  CHECK_THROWS_WITH_AS(c.update(nlohmann::json{{"model", {{"decoder", "sideways"}}}}), doctest::Contains("sideways"), Error);
  auto good = tiny_config(scratch / "run_nan");
  good.lr = 1e30;  // diverges to a non-finite loss
  pipeline::Trainer t(good);
  CHECK_THROWS_WITH_AS(t.run(nullptr), doctest::Contains("diverged"), Error);
}

TEST_CASE("detector: a run folder with a broken prompt pool or checkpoint config is refused by name, its files untouched") {
  testing::TempDir scratch;
  const std::string run = scratch / "run", ckpt = run + "/checkpoint.safetensors", pool = run + "/prompts.safetensors";
  auto cfg = tiny_config(run);
  cfg.epochs = 1;
  { pipeline::Trainer t(cfg); t.run(nullptr); }
  const std::string checkpoint_bytes = testing::read_bytes(ckpt);
  CHECK_THROWS_WITH_AS(pipeline::Detector{run}, doctest::Contains(("no prompts.safetensors in '" + run + "'").c_str()), Error);
  // features of another backbone or size
  io::save_safetensors<float>(pool, {{"features.disc", zeros<float>({3, 4, 4})}}, {{"classes", R"(["disc"])"}, {"fusion_scale", "1"}});
  CHECK_THROWS_WITH_AS(pipeline::Detector{run},
                       doctest::Contains(("prompt pool '" + pool + "', tensor 'features.disc' is [3, 4, 4] but this run's backbone and size give [168, 4, 4]").c_str()),
                       Error);
  io::save_safetensors<float>(pool, {{"features.disc", zeros<float>({168, 4, 4})}}, {{"classes", "disc"}});
  CHECK_THROWS_WITH_AS(pipeline::Detector{run}, doctest::Contains(("prompt pool '" + pool + "': __metadata__ needs classes").c_str()), Error);
  // a checkpoint whose config holds a value no run could have
  nlohmann::json bad = cfg.to_json();
  bad["model"]["hidden"] = 0;
  io::SafeTensorsFile f(ckpt);
  io::Metadata md = f.metadata();
  md["config"] = bad.dump();
  std::vector<std::pair<std::string, TensorF>> tensors;
  for (auto& ti : f.tensors()) tensors.emplace_back(ti.name, f.get<float>(ti.name));
  const std::string odd = scratch / "odd";
  fs::create_directories(odd);
  io::save_safetensors<float>(odd + "/checkpoint.safetensors", tensors, md);
  CHECK_THROWS_WITH_AS(pipeline::Detector{odd},
                       doctest::Contains(("detector: checkpoint '" + odd + "/checkpoint.safetensors': config: model.hidden (--hidden) must be at least 2, got 0").c_str()),
                       Error);
  CHECK(testing::read_bytes(ckpt) == checkpoint_bytes);
}

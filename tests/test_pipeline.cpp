// The whole pipeline on a tiny generated dataset: train, checkpoint, resume, detector, evaluate,
// report. A small model and 64 x 64 inputs keep it fast.
#include <onenip/data/demo_dataset.hpp>
#include <onenip/pipeline/report.hpp>

#include <filesystem>
#include <optional>

#include "file_helpers.hpp"
#include "helpers.hpp"

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
  pipeline::TrainConfig c;
  c.data = {tiny_dataset()};
  c.out = out;
  c.epochs = 2;
  c.batch_size = 4;
  c.save_every = 1;
  c.workers = 2;
  c.lr = 1e-3;
  c.model.image_size = 64;
  c.model.hidden = 32;
  c.model.heads = 4;
  c.model.ff = 64;
  c.model.encoder_layers = 1;
  c.model.decoder_layers = 1;
  return c;
}
std::vector<std::pair<std::string, TensorF>> params(pipeline::Trainer& t) { return t.model()->named_parameters(); }
}  // namespace

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

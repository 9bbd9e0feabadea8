#include <onenip/data/layouts/common.hpp>
#include <onenip/pipeline/calibrate.hpp>

#include "commands.hpp"

namespace onenip::cli {

Action add_calibrate(CLI::App& app) {
  auto run = std::make_shared<std::string>(), weights = std::make_shared<std::string>();
  auto normal = std::make_shared<std::string>(), cls = std::make_shared<std::string>();
  auto data = std::make_shared<std::vector<std::string>>();
  auto opt = std::make_shared<pipeline::CalibrateOptions>();
  app.add_option("--checkpoint", *run, "run folder written by `onenip train`")->required()->check(CLI::ExistingDirectory);
  auto* d = app.add_option("--data", *data, "labelled images: the test sets of these class folders (F1-optimal thresholds)");
  auto* n = app.add_option("--normal", *normal, "a folder of normal images not used in training (percentile thresholds)")
                ->check(CLI::ExistingDirectory);
  d->excludes(n);
  app.add_option("--class", *cls, "class of the --normal images (default: chosen per image by cosine similarity)");
  app.add_option("--method", opt->method, "auto (f1 when some images have defects) | f1 | percentile")
      ->check(CLI::IsMember({"auto", "f1", "percentile"}))->capture_default_str();
  auto* pi = app.add_option("--percentile", opt->image_percentile, "percentile of normal image scores (given: percentile method)")
                ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  auto* pp = app.add_option("--pixel-percentile", opt->pixel_percentile, "percentile of normal pixel scores (given: percentile method)")
                 ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  app.add_option("--batch", opt->batch, "images per model pass")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  app.add_option("--weights", *weights, "backbone weights, if they moved since training");
  auto device = add_device_option(app);
  return [=]() {
    ONENIP_CHECK(!data->empty() || !normal->empty(), "calibrate: give --data (labelled images) or --normal (a folder of normal images)");
    pipeline::Detector det(*run, *weights, pipeline::parse_device(*device));
    det.set_thresholds(std::nullopt);
    std::vector<data::ClassData> classes;
    pipeline::CalibrateOptions o = *opt;
    if (o.method == "auto" && (pi->count() || pp->count())) o.method = "percentile";  // asked for by name
    if (!normal->empty()) {
      data::ClassData c;
      c.name = cls->empty() ? "normal" : *cls;
      for (auto& p : data::layouts::list_images(*normal)) c.test.push_back({p.string(), "", 0, "good"});
      ONENIP_CHECK(!c.test.empty(), "calibrate: no images (PNG, JPEG, BMP) in --normal '", *normal, "'");
      classes.push_back(std::move(c));
      o.prompt = cls->empty() ? pipeline::PromptSelection::Cosine : pipeline::PromptSelection::KnownClass;
    } else {
      classes = data::discover_datasets(*data, {});
    }
    auto t = pipeline::calibrate(det, classes, o, normal->empty() ? *data : std::vector<std::string>{*normal}, stderr);
    t.save(*run);
    std::printf("%s\nwrote %s\n", t.describe().c_str(), pipeline::Thresholds::path(*run).c_str());
    return 0;
  };
}

}  // namespace onenip::cli

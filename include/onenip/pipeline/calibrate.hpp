/// \file
/// Fitting a run's thresholds (Thresholds, thresholds.json) on images that were not trained on:
///   - labelled images (some with defects): the F1-optimal image and pixel thresholds;
///   - normal images only: a percentile of their image scores and of their pixel scores.
/// Either way the range of the scores used is kept, for normalised scores.
#pragma once

#include "../eval/decision.hpp"
#include "evaluate.hpp"

namespace onenip::pipeline {

struct CalibrateOptions {
  std::string method = "auto";  ///< "auto" (f1 when some images have defects), "f1" or "percentile"
  double image_percentile = 99, pixel_percentile = 99.9;
  PromptSelection prompt = PromptSelection::KnownClass;
  int batch = 8;
};

/// Thresholds from the test images of `classes` (known-class prompts, the stored fusion scale).
inline Thresholds calibrate(Detector& det, const std::vector<data::ClassData>& classes, const CalibrateOptions& opt,
                            const std::vector<std::string>& sources, std::FILE* progress = nullptr) {
  ONENIP_CHECK(opt.method == "auto" || opt.method == "f1" || opt.method == "percentile",
               "calibrate: method must be auto, f1 or percentile; got '", opt.method, "'");
  {  // never the training images: the model has learnt them, so their scores are too low
    std::set<std::string> train;
    try {
      for (auto& c : data::discover_datasets(det.config().data, {}))
        for (auto& smp : c.train) train.insert(Thresholds::absolute(smp.image));
    } catch (const Error&) {  // the training data is not here (any more): nothing to compare
    }
    size_t n = 0;
    for (auto& c : classes)
      for (auto& smp : c.test) n += train.count(Thresholds::absolute(smp.image));
    ONENIP_CHECK(n == 0, "calibrate: ", n, " of the images are training images of this run; fit thresholds on "
                 "images it was not trained on");
  }
  EvalOptions eo;
  eo.batch = opt.batch;
  eo.prompt = opt.prompt;
  eo.metrics = false;
  EvalResult r = evaluate(det, classes, eo, progress);
  int anomalous = 0;
  for (auto& c : r.cases) anomalous += c.label;
  Thresholds t;
  t.method = opt.method == "auto" ? (anomalous > 0 ? "f1" : "percentile") : opt.method;
  if (t.method == "f1")
    ONENIP_CHECK(anomalous > 0 && anomalous < int(r.cases.size()), "calibrate: F1-optimal thresholds need normal "
                 "and anomalous images; of the ", r.cases.size(), " test images ", anomalous, " are anomalous");
  std::vector<double> img;
  std::vector<int> img_labels;
  std::vector<float> px;
  std::vector<uint8_t> px_labels;
  for (auto& c : r.cases) {
    if (t.method == "percentile" && c.label) continue;  // percentiles of normal scores only
    img.push_back(c.score);
    img_labels.push_back(c.label);
    t.images.push_back(Thresholds::absolute(c.path));
    t.anomalous += c.label;
    const float* m = c.map.data();
    px.insert(px.end(), m, m + c.map.numel());
    for (uint8_t v : c.mask.pixels) px_labels.push_back(v > 0);
  }
  ONENIP_CHECK(!img.empty(), "calibrate: no normal test images to take percentiles of");
  if (t.method == "f1") {
    auto ip = eval::f1_optimal_threshold(img, img_labels);
    auto pp = eval::f1_optimal_threshold(px, px_labels);
    t.image = ip.threshold, t.image_f1 = ip.f1;
    t.pixel = pp.threshold, t.pixel_f1 = pp.f1;
  } else {
    t.image_percentile = opt.image_percentile, t.pixel_percentile = opt.pixel_percentile;
    t.image = eval::percentile(img, opt.image_percentile);
    t.pixel = eval::percentile(px, opt.pixel_percentile);
  }
  t.image_min = *std::min_element(img.begin(), img.end());
  t.image_max = *std::max_element(img.begin(), img.end());
  t.pixel_min = *std::min_element(px.begin(), px.end());
  t.pixel_max = *std::max_element(px.begin(), px.end());
  for (auto& s : sources) t.sources.push_back(Thresholds::absolute(s));
  t.date = Thresholds::utc_now();
  return t;
}

}  // namespace onenip::pipeline

/// \file
/// Evaluation with the authors' protocol (docs/onenip.md, section 8), per class and mean:
/// image AUROC / AP (label = any defect pixel in the S x S mask, score = Detector::image_score),
/// pixel AUROC / AP over all S x S pixels of a class, plus AUPRO up to 30 % FPR and F1-max (image
/// and pixel). Both prompt selections and both fusion modes (section 7).
#pragma once

#include "../eval/decision.hpp"
#include "../eval/metrics.hpp"
#include "detector.hpp"

namespace onenip::pipeline {

struct EvalOptions {
  PromptSelection prompt = PromptSelection::KnownClass;
  bool reference_fusion = false;  ///< true: scale from this run's S_rec, as the authors' code
  int batch = 8;
  bool keep_maps = true;          ///< keep fused maps for the report's cases
  bool metrics = true;            ///< false: scores and maps only (calibration)
};

struct ClassMetrics {
  std::string cls;
  int test_images = 0, anomalous = 0;
  /// NaN where undefined; `notes` then says why
  double image_auroc = NAN, image_ap = NAN, pixel_auroc = NAN, pixel_ap = NAN, aupro = NAN, image_f1 = NAN,
         pixel_f1 = NAN;
  double prompt_accuracy = NAN;  ///< cosine selection: share of test images given their own class
  eval::Confusion counts;        ///< images at the detector's image threshold (when it has one)
  std::vector<std::string> notes;
};

/// One defect type of a class against the class's normal images.
struct DefectMetrics {
  std::string cls, defect;
  int images = 0, detected = -1;  ///< detected: at the image threshold (-1: no threshold)
  double image_auroc = NAN, mean_score = NAN;
};

struct TestCase {
  std::string cls, path, defect;
  int label = 0;
  double score = 0;
  TensorF map;       ///< [S, S] fused (when kept)
  io::Image image;   ///< S x S RGB (when kept)
  io::Image mask;    ///< S x S grey
};

struct EvalResult {
  std::vector<ClassMetrics> classes;
  ClassMetrics mean;
  std::vector<TestCase> cases;
  double fusion_scale = 1.0;
  std::string prompt_mode, fusion_mode;
  std::vector<DefectMetrics> defects;
  std::optional<Thresholds> thresholds;  ///< the detector's, that counts and decisions use
  size_t fitted_on = 0;                  ///< how many evaluated images the thresholds were fitted on
};

namespace detail {
template <typename F>
double guarded(F f, std::vector<std::string>& notes) {
  try {
    return f();
  } catch (const Error& e) {
    notes.push_back(e.what());
    return NAN;
  }
}
}  // namespace detail

/// Per defect type of one class's cases: AUROC against the class's normal images, mean score,
/// and how many the image threshold catches.
inline void add_defects(EvalResult& res, const std::vector<TestCase>& cases, const std::optional<Thresholds>& t) {
  std::vector<std::string> kinds;
  for (auto& tc : cases)
    if (tc.label && std::find(kinds.begin(), kinds.end(), tc.defect) == kinds.end()) kinds.push_back(tc.defect);
  for (auto& k : kinds) {
    DefectMetrics d;
    d.cls = cases.front().cls, d.defect = k;
    std::vector<double> s;
    std::vector<int> l;
    double sum = 0;
    int detected = 0;
    for (auto& tc : cases) {
      if (tc.label && tc.defect != k) continue;
      s.push_back(tc.score), l.push_back(tc.label);
      if (tc.label) d.images += 1, sum += tc.score, detected += t && tc.score >= t->image;
    }
    d.detected = t ? detected : -1;
    d.mean_score = sum / d.images;
    std::vector<std::string> ignored;
    d.image_auroc = detail::guarded([&] { return eval::roc_auc(s, l); }, ignored);
    res.defects.push_back(d);
  }
}

inline EvalResult evaluate(Detector& det, const std::vector<data::ClassData>& classes, const EvalOptions& opt,
                           std::FILE* progress = nullptr) {
  const int S = int(det.image_size());
  EvalResult res;
  res.prompt_mode = opt.prompt == PromptSelection::KnownClass ? "known-class" : "cosine";
  res.fusion_mode = opt.reference_fusion ? "reference (test-run S_rec range)" : "stored (training pass)";
  struct Raw {
    TensorF rec, ref;
  };
  std::vector<std::vector<Raw>> raw(classes.size());
  std::vector<std::vector<TestCase>> cases(classes.size());
  std::vector<int> right(classes.size(), 0);
  double lo = 1e300, hi = -1e300;
  const bool tty = progress && isatty(fileno(progress));
  for (size_t c = 0; c < classes.size(); ++c) {
    const auto& tests = classes[c].test;
    ONENIP_CHECK(!tests.empty(), "evaluate: class '", classes[c].name, "' has no test images");
    for (size_t b = 0; b < tests.size(); b += size_t(opt.batch)) {
      std::vector<io::Image> ims;
      size_t e = std::min(tests.size(), b + size_t(opt.batch));
      for (size_t i = b; i < e; ++i) {
        TestCase tc;
        tc.cls = classes[c].name, tc.path = tests[i].image, tc.defect = tests[i].defect;
        io::Image im = io::load_image(tests[i].image, 3);
        io::Image mk = data::load_mask(tests[i], im.width, im.height);
        tc.image = data::resize_image(im, S, S);
        tc.mask = data::resize_mask(mk, S, S);
        tc.label = std::any_of(tc.mask.pixels.begin(), tc.mask.pixels.end(), [](uint8_t v) { return v > 0; });
        ims.push_back(tc.image);
        cases[c].push_back(std::move(tc));
      }
      TensorF f = det.features(ims);
      for (size_t i = 0; i < ims.size(); ++i) {  // one prompt per image (cosine may differ per image)
        TensorF fi = f.narrow(0, int64_t(i), 1);
        size_t p = det.choose_prompt(fi, opt.prompt, classes[c].name);
        if (det.classes()[p] == classes[c].name) ++right[c];
        auto m = det.raw_maps(fi, p);
        Raw r{m.rec.select(0, 0), m.ref.defined() ? m.ref.select(0, 0) : TensorF()};
        lo = std::min(lo, double(min(r.rec).item()));
        hi = std::max(hi, double(max(r.rec).item()));
        raw[c].push_back(std::move(r));
      }
      // on a terminal one line redrawn; in a log file one line per step, as train does
      if (progress)
        std::fprintf(progress, "%seval %s: %zu/%zu%s", tty ? "\r" : "", classes[c].name.c_str(), e, tests.size(),
                     tty ? "" : "\n"),
            std::fflush(progress);
    }
    if (progress && tty) std::fprintf(progress, "\n");
  }
  res.fusion_scale = opt.reference_fusion ? (lo + hi) / 2 : det.fusion_scale();
  double saved = det.fusion_scale();
  det.set_fusion_scale(res.fusion_scale);
  for (size_t c = 0; c < classes.size(); ++c) {
    ClassMetrics cm;
    cm.cls = classes[c].name;
    std::vector<double> img_scores;
    std::vector<int> img_labels;
    std::vector<float> px_scores;
    std::vector<uint8_t> px_labels;
    std::vector<std::vector<float>> maps;
    std::vector<std::vector<uint8_t>> masks;
    for (size_t i = 0; i < raw[c].size(); ++i) {
      Score s = det.fuse(raw[c][i].rec, raw[c][i].ref);
      TestCase& tc = cases[c][i];
      tc.score = s.image_score;
      img_scores.push_back(s.image_score);
      img_labels.push_back(tc.label);
      TensorF m = s.map.contiguous();
      std::vector<float> mv(m.data(), m.data() + m.numel());
      std::vector<uint8_t> kv(tc.mask.pixels.size());
      for (size_t p = 0; p < kv.size(); ++p) kv[p] = tc.mask.pixels[p] > 0;
      px_scores.insert(px_scores.end(), mv.begin(), mv.end());
      px_labels.insert(px_labels.end(), kv.begin(), kv.end());
      maps.push_back(std::move(mv));
      masks.push_back(std::move(kv));
      if (opt.keep_maps) tc.map = m;
    }
    cm.test_images = int(img_labels.size());
    cm.anomalous = int(std::count(img_labels.begin(), img_labels.end(), 1));
    if (det.thresholds()) cm.counts = eval::confusion_at(img_scores, img_labels, det.thresholds()->image);
    if (!opt.metrics) {
      res.classes.push_back(std::move(cm));
      for (auto& tc : cases[c]) res.cases.push_back(std::move(tc));
      continue;
    }
    add_defects(res, cases[c], det.thresholds());
    cm.image_auroc = detail::guarded([&] { return eval::roc_auc(img_scores, img_labels); }, cm.notes);
    cm.image_ap = detail::guarded([&] { return eval::average_precision(img_scores, img_labels); }, cm.notes);
    cm.image_f1 = detail::guarded([&] { return eval::f1_max(img_scores, img_labels); }, cm.notes);
    cm.pixel_auroc = detail::guarded([&] { return eval::roc_auc(px_scores, px_labels); }, cm.notes);
    cm.pixel_ap = detail::guarded([&] { return eval::average_precision(px_scores, px_labels); }, cm.notes);
    cm.pixel_f1 = detail::guarded([&] { return eval::f1_max(px_scores, px_labels); }, cm.notes);
    cm.aupro = detail::guarded([&] { return eval::au_pro(maps, masks, S, S, 0.3); }, cm.notes);
    cm.prompt_accuracy = double(right[c]) / double(std::max<size_t>(raw[c].size(), 1));
    res.classes.push_back(std::move(cm));
    for (auto& tc : cases[c]) res.cases.push_back(std::move(tc));
  }
  det.set_fusion_scale(saved);
  if ((res.thresholds = det.thresholds())) {
    std::vector<std::string> paths;
    for (auto& tc : res.cases) paths.push_back(tc.path);
    res.fitted_on = res.thresholds->overlap(paths);
    if (opt.reference_fusion)
      res.mean.notes.push_back("the thresholds were fitted with the stored fusion scale; with reference fusion the "
                               "scores are on another scale, so counts at the threshold are not comparable");
  }
  // unweighted mean over classes, as the authors report it, over the classes where a metric is defined
  res.mean.cls = "mean";
  auto avg = [&](double ClassMetrics::*f) {
    double s = 0;
    int n = 0;
    for (auto& cm : res.classes)
      if (!std::isnan(cm.*f)) s += cm.*f, ++n;
    return n ? s / n : NAN;
  };
  for (auto f : {&ClassMetrics::image_auroc, &ClassMetrics::image_ap, &ClassMetrics::pixel_auroc,
                 &ClassMetrics::pixel_ap, &ClassMetrics::aupro, &ClassMetrics::image_f1, &ClassMetrics::pixel_f1,
                 &ClassMetrics::prompt_accuracy})
    res.mean.*f = avg(f);
  for (auto& cm : res.classes) {
    res.mean.test_images += cm.test_images, res.mean.anomalous += cm.anomalous;
    res.mean.counts.tp += cm.counts.tp, res.mean.counts.fp += cm.counts.fp;
    res.mean.counts.tn += cm.counts.tn, res.mean.counts.fn += cm.counts.fn;
  }
  return res;
}

}  // namespace onenip::pipeline

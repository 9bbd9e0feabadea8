/// \file
/// Evaluation output: a terminal table, metrics.json, metrics.csv, and a self-contained
/// report.html (tables; the operating point with sliders, report_decision.hpp; per class ROC and
/// PR curves, the best and worst cases as image | ground truth | heat map | overlay | mask at the
/// pixel threshold; a histogram of normal vs anomalous image scores). Everything is embedded (PNG as
/// base64, histogram as SVG), so the HTML file can be mailed or archived alone.
#pragma once

#include <iomanip>
#include <sstream>

#include "../data/colormap.hpp"
#include "evaluate.hpp"
#include "report_decision.hpp"

namespace onenip::pipeline {

namespace detail {
inline nlohmann::json metrics_json(const ClassMetrics& m) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"class", m.cls}, {"test_images", m.test_images}, {"anomalous", m.anomalous},
          {"image_auroc", num(m.image_auroc)}, {"image_ap", num(m.image_ap)}, {"pixel_auroc", num(m.pixel_auroc)},
          {"pixel_ap", num(m.pixel_ap)}, {"aupro_30", num(m.aupro)}, {"image_f1_max", num(m.image_f1)},
          {"pixel_f1_max", num(m.pixel_f1)}, {"prompt_accuracy", num(m.prompt_accuracy)}, {"notes", m.notes}};
}
// The classes and then the mean.
inline std::vector<const ClassMetrics*> with_mean(const EvalResult& r) {
  std::vector<const ClassMetrics*> v;
  for (auto& c : r.classes) v.push_back(&c);
  v.push_back(&r.mean);
  return v;
}
}  // namespace detail

/// One row per class and the mean; percentages with one decimal.
inline std::string metrics_table(const EvalResult& r) {
  std::ostringstream os;
  os << "| class | I-AUROC | I-AP | P-AUROC | P-AP | AUPRO@30 | I-F1max | P-F1max |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  auto row = [&](const ClassMetrics& m) {
    using detail::pct;
    os << "| " << m.cls << " | " << pct(m.image_auroc) << " | " << pct(m.image_ap) << " | " << pct(m.pixel_auroc)
       << " | " << pct(m.pixel_ap) << " | " << pct(m.aupro) << " | " << pct(m.image_f1) << " | " << pct(m.pixel_f1)
       << " |\n";
  };
  for (auto& m : r.classes) row(m);
  row(r.mean);
  for (auto& m : r.classes)  // say why a class's metrics are n/a (e.g. a test split of one label)
    if (!m.notes.empty())
      os << "n/a for " << m.cls << ": " << m.notes.front() << (m.notes.size() > 1 ? " (metrics.json lists every reason)" : "")
         << "\n";
  if (r.thresholds) {
    auto& k = r.mean.counts;
    os << "at the stored image threshold " << r.thresholds->image << ": TP " << k.tp << ", FP " << k.fp << ", TN "
       << k.tn << ", FN " << k.fn << "\n";
    if (r.fitted_on)
      os << "note: " << r.fitted_on << " of the " << r.cases.size()
         << " evaluated images were used to fit the thresholds, so these counts are optimistic\n";
  }
  return os.str();
}

inline void write_metrics(const EvalResult& r, const std::string& dir) {
  nlohmann::json j = {{"prompt", r.prompt_mode}, {"fusion", r.fusion_mode}, {"fusion_scale", r.fusion_scale}};
  for (auto& m : r.classes) j["classes"].push_back(detail::metrics_json(m));
  j["mean"] = detail::metrics_json(r.mean);
  if (r.thresholds) {  // the counts at the operating point, per class and over all images
    j["thresholds"] = r.thresholds->to_json();
    j["thresholds"].erase("images");
    j["thresholds_fitted_on_evaluated_images"] = r.fitted_on;
    auto counts = [](const eval::Confusion& k) { return nlohmann::json{{"tp", k.tp}, {"fp", k.fp}, {"tn", k.tn}, {"fn", k.fn}}; };
    for (auto* m : detail::with_mean(r)) j["counts"][m->cls == "mean" ? "all" : m->cls] = counts(m->counts);
  }
  for (auto& d : r.defects)
    j["defects"].push_back({{"class", d.cls}, {"defect", d.defect}, {"images", d.images},
                            {"image_auroc", std::isnan(d.image_auroc) ? nlohmann::json(nullptr) : nlohmann::json(d.image_auroc)},
                            {"mean_score", d.mean_score}, {"caught", d.detected < 0 ? nlohmann::json(nullptr) : nlohmann::json(d.detected)}});
  for (auto& c : r.cases)
    j["images"].push_back({{"image", c.path}, {"class", c.cls}, {"defect", c.defect}, {"label", c.label}, {"score", c.score}});
  io::write_file_atomically(dir + "/metrics.json", j.dump(2) + "\n", "metrics");
  std::ostringstream csv;
  csv << "class,test_images,anomalous,image_auroc,image_ap,pixel_auroc,pixel_ap,aupro_30,image_f1_max,pixel_f1_max,"
         "prompt_accuracy\n";
  auto field = [](double v) { return std::isnan(v) ? std::string() : std::to_string(v); };
  for (auto* m : [&] {
         std::vector<const ClassMetrics*> v;
         for (auto& c : r.classes) v.push_back(&c);
         v.push_back(&r.mean);
         return v;
       }())
    csv << m->cls << "," << m->test_images << "," << m->anomalous << "," << field(m->image_auroc) << ","
        << field(m->image_ap) << "," << field(m->pixel_auroc) << "," << field(m->pixel_ap) << "," << field(m->aupro)
        << "," << field(m->image_f1) << "," << field(m->pixel_f1) << "," << field(m->prompt_accuracy) << "\n";
  io::write_file_atomically(dir + "/metrics.csv", csv.str(), "metrics");
}

namespace detail {
// An SVG histogram of image scores, normal (blue) vs anomalous (red), 30 bins.
inline std::string score_histogram(const std::vector<const TestCase*>& cases) {
  double lo = 1e300, hi = -1e300;
  for (auto* c : cases) lo = std::min(lo, c->score), hi = std::max(hi, c->score);
  if (!(hi > lo)) hi = lo + 1;
  const int bins = 30, W = 480, H = 140;
  std::vector<int> n(bins), a(bins);
  for (auto* c : cases) (c->label ? a : n)[size_t(std::min(bins - 1, int((c->score - lo) / (hi - lo) * bins)))]++;
  int top = 1;
  for (int i = 0; i < bins; ++i) top = std::max({top, n[size_t(i)], a[size_t(i)]});
  std::ostringstream s;
  s << "<svg width='" << W << "' height='" << H + 20 << "' xmlns='http://www.w3.org/2000/svg'>";
  double bw = double(W) / bins;
  for (int i = 0; i < bins; ++i) {
    double hn = double(H) * n[size_t(i)] / top, ha = double(H) * a[size_t(i)] / top;
    s << "<rect x='" << i * bw << "' y='" << H - hn << "' width='" << bw / 2 << "' height='" << hn
      << "' fill='#3b73b9'/><rect x='" << i * bw + bw / 2 << "' y='" << H - ha << "' width='" << bw / 2
      << "' height='" << ha << "' fill='#d9534f'/>";
  }
  s << "<text x='0' y='" << H + 15 << "' font-size='11'>" << lo << "</text><text x='" << W - 60 << "' y='" << H + 15
    << "' font-size='11'>" << hi << "</text></svg>";
  return s.str();
}
}  // namespace detail

/// report.html in `dir`; `cases_per_class` best and as many worst cases per class.
inline void write_report(const EvalResult& r, const std::string& dir, const std::string& title, int cases_per_class = 3) {
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset='utf-8'><title>" << detail::html_escape(title)
    << "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid "
       "#ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}img{image-rendering:pixelated}"
       "</style></head><body><h1>"
    << detail::html_escape(title) << "</h1><p>Prompt selection: <b>" << r.prompt_mode << "</b>; fusion: <b>"
    << r.fusion_mode << "</b> (scale " << r.fusion_scale << "). Metrics in %.</p>";
  if (r.prompt_mode == "cosine")
    h << "<p>Cosine prompt selection picked the right class for " << detail::pct(r.mean.prompt_accuracy)
      << " % of test images (mean over classes).</p>";
  h << "<table><tr><th>class</th><th>test</th><th>anomalous</th><th>I-AUROC</th><th>I-AP</th><th>P-AUROC</th>"
       "<th>P-AP</th><th>AUPRO@30</th><th>I-F1max</th><th>P-F1max</th></tr>";
  auto row = [&](const ClassMetrics& m) {
    using detail::pct;
    h << "<tr><td>" << detail::html_escape(m.cls) << "</td><td>" << m.test_images << "</td><td>" << m.anomalous
      << "</td><td>" << pct(m.image_auroc) << "</td><td>" << pct(m.image_ap) << "</td><td>" << pct(m.pixel_auroc)
      << "</td><td>" << pct(m.pixel_ap) << "</td><td>" << pct(m.aupro) << "</td><td>" << pct(m.image_f1)
      << "</td><td>" << pct(m.pixel_f1) << "</td></tr>";
  };
  for (auto& m : r.classes) row(m);
  row(r.mean);
  h << "</table>";
  for (auto* m : detail::with_mean(r))
    for (auto& n : m->notes) h << "<p><i>" << detail::html_escape(m->cls) << ": " << detail::html_escape(n) << "</i></p>";
  // the operating point: the stored thresholds, or the F1-optimal ones of these images
  std::vector<double> all_scores;
  std::vector<int> all_labels;
  std::vector<float> all_px;
  std::vector<uint8_t> all_px_labels;
  for (auto& c : r.cases) {
    all_scores.push_back(c.score), all_labels.push_back(c.label);
    if (!c.map.defined()) continue;
    all_px.insert(all_px.end(), c.map.data(), c.map.data() + c.map.numel());
    for (uint8_t v : c.mask.pixels) all_px_labels.push_back(v > 0);
  }
  auto f1_threshold = [](const auto& s, const auto& l) {
    try {
      return eval::f1_optimal_threshold(s, l).threshold;
    } catch (const Error&) {
      return s.empty() ? 0.0 : double(*std::max_element(s.begin(), s.end()));
    }
  };
  const double thr = r.thresholds ? r.thresholds->image : f1_threshold(all_scores, all_labels);
  const double pthr = r.thresholds ? r.thresholds->pixel : f1_threshold(all_px, all_px_labels);
  double px_lo = all_px.empty() ? 0 : *std::min_element(all_px.begin(), all_px.end());
  double px_hi = all_px.empty() ? 1 : *std::max_element(all_px.begin(), all_px.end());
  h << detail::decision_section(r, thr, pthr, px_lo, px_hi);
  int shown = 0;  // ids of the mask canvases' sources
  for (auto& m : r.classes) {
    std::vector<const TestCase*> cs;
    for (auto& c : r.cases)
      if (c.cls == m.cls) cs.push_back(&c);
    h << "<h2>" << detail::html_escape(m.cls) << "</h2><p>Image scores, normal (blue) vs anomalous (red):</p>"
      << detail::score_histogram(cs);
    {  // curves of this class, image and pixel, marked at the thresholds
      std::vector<double> is;
      std::vector<int> il;
      std::vector<float> ps;
      std::vector<uint8_t> pl;
      for (auto* c : cs) {
        is.push_back(c->score), il.push_back(c->label);
        if (!c->map.defined()) continue;
        ps.insert(ps.end(), c->map.data(), c->map.data() + c->map.numel());
        for (uint8_t v : c->mask.pixels) pl.push_back(v > 0);
      }
      h << "<p>" << detail::curve_pair(is, il, thr, "image") << (ps.empty() ? "" : detail::curve_pair(ps, pl, pthr, "pixel"))
        << "<br>Red dots: the thresholds.</p>";
    }
    // map colours share one range per class so panels compare
    double lo = 1e300, hi = -1e300;
    for (auto* c : cs)
      if (c->map.defined()) lo = std::min(lo, double(min(c->map).item())), hi = std::max(hi, double(max(c->map).item()));
    std::vector<const TestCase*> anomalous, normal;
    for (auto* c : cs) (c->label ? anomalous : normal).push_back(c);
    auto by_score = [](auto* a, auto* b) { return a->score > b->score; };
    std::sort(anomalous.begin(), anomalous.end(), by_score);
    std::sort(normal.begin(), normal.end(), by_score);
    auto show = [&](const char* caption, std::vector<const TestCase*> list) {
      h << "<h3>" << caption << "</h3>";
      for (auto* c : list) {
        if (!c->map.defined()) continue;
        io::Image panel = data::heatmap_panels(c->image, c->mask, c->map, lo, hi);
        // the mask at the pixel slider's threshold, drawn by the page from the map as grey levels
        io::Image grey(int(c->map.size(1)), int(c->map.size(0)), 1);
        for (size_t p = 0; p < grey.pixels.size(); ++p)
          grey.pixels[p] = uint8_t(std::clamp((c->map.data()[p] - lo) / std::max(hi - lo, 1e-12) * 255.0, 0.0, 255.0));
        int id = shown++;
        h << "<p>" << detail::html_escape(c->path) << " (" << c->defect << ", score " << c->score
          << ")<br><img src='data:image/png;base64," << detail::base64(io::encode_png(panel)) << "'> <canvas class='mask' "
          << "width='" << grey.width << "' height='" << grey.height << "' data-img='im-" << id << "' data-map='mp-"
          << id << "' data-lo='" << std::setprecision(17) << lo << "' data-hi='" << hi << std::setprecision(6)
          << "'></canvas><img id='im-" << id << "' hidden src='data:image/png;base64,"
          << detail::base64(io::encode_png(c->image)) << "'><img id='mp-" << id << "' hidden src='data:image/png;base64,"
          << detail::base64(io::encode_png(grey)) << "'></p>";
      }
    };
    auto first = [&](const std::vector<const TestCase*>& v, bool from_end) {
      std::vector<const TestCase*> out;
      for (int i = 0; i < cases_per_class && i < int(v.size()); ++i) out.push_back(from_end ? v[v.size() - 1 - size_t(i)] : v[size_t(i)]);
      return out;
    };
    show("Best: anomalous images scored highest", first(anomalous, false));
    show("Worst: anomalous images scored lowest", first(anomalous, true));
    show("Worst: normal images scored highest", first(normal, false));
  }
  h << detail::decision_script() << "</body></html>\n";
  io::write_file_atomically(dir + "/report.html", h.str(), "report");
}

}  // namespace onenip::pipeline

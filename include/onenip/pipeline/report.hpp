// Evaluation output: a terminal table, metrics.json, metrics.csv, and a self-contained
// report.html (tables; per class the best and worst cases as image | ground truth | heat map |
// overlay; a histogram of normal vs anomalous image scores). Everything is embedded (PNG as
// base64, histogram as SVG), so the HTML file can be mailed or archived alone.
#pragma once

#include <iomanip>
#include <sstream>

#include "../data/colormap.hpp"
#include "evaluate.hpp"

namespace onenip::pipeline {

namespace detail {
inline std::string pct(double v) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << 100 * v;
  return os.str();
}
inline std::string base64(const std::vector<uint8_t>& in) {
  static const char* tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0) |
                 (i + 2 < in.size() ? in[i + 2] : 0);
    out += tab[v >> 18 & 63];
    out += tab[v >> 12 & 63];
    out += i + 1 < in.size() ? tab[v >> 6 & 63] : '=';
    out += i + 2 < in.size() ? tab[v & 63] : '=';
  }
  return out;
}
inline std::string html_escape(const std::string& s) {
  std::string o;
  for (char ch : s) o += ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '&' ? "&amp;" : std::string(1, ch);
  return o;
}
inline nlohmann::json metrics_json(const ClassMetrics& m) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  return {{"class", m.cls}, {"test_images", m.test_images}, {"anomalous", m.anomalous},
          {"image_auroc", num(m.image_auroc)}, {"image_ap", num(m.image_ap)}, {"pixel_auroc", num(m.pixel_auroc)},
          {"pixel_ap", num(m.pixel_ap)}, {"aupro_30", num(m.aupro)}, {"image_f1_max", num(m.image_f1)},
          {"pixel_f1_max", num(m.pixel_f1)}, {"prompt_accuracy", num(m.prompt_accuracy)}, {"notes", m.notes}};
}
}  // namespace detail

// One row per class and the mean; percentages with one decimal.
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
  return os.str();
}

inline void write_metrics(const EvalResult& r, const std::string& dir) {
  nlohmann::json j = {{"prompt", r.prompt_mode}, {"fusion", r.fusion_mode}, {"fusion_scale", r.fusion_scale}};
  for (auto& m : r.classes) j["classes"].push_back(detail::metrics_json(m));
  j["mean"] = detail::metrics_json(r.mean);
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

// report.html in `dir`; `cases_per_class` best and as many worst cases per class.
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
  for (auto& m : r.classes)
    for (auto& n : m.notes) h << "<p><i>" << detail::html_escape(m.cls) << ": " << detail::html_escape(n) << "</i></p>";
  for (auto& m : r.classes) {
    std::vector<const TestCase*> cs;
    for (auto& c : r.cases)
      if (c.cls == m.cls) cs.push_back(&c);
    h << "<h2>" << detail::html_escape(m.cls) << "</h2><p>Image scores, normal (blue) vs anomalous (red):</p>"
      << detail::score_histogram(cs);
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
        h << "<p>" << detail::html_escape(c->path) << " (" << c->defect << ", score " << c->score
          << ")<br><img src='data:image/png;base64," << detail::base64(io::encode_png(panel)) << "'></p>";
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
  h << "</body></html>\n";
  io::write_file_atomically(dir + "/report.html", h.str(), "report");
}

}  // namespace onenip::pipeline

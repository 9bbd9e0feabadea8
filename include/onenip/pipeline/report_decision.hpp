/// \file
/// The report's operating-point part: the thresholds and where they came from, confusion counts per
/// class and per defect type, ROC and PR curves (image and pixel) with the threshold marked, and two
/// sliders (image threshold: counts; pixel threshold: the masks shown) in plain JavaScript over the
/// scores embedded in the page, so it works from a file with no server.
///
/// Self-test for headless browsers: report.html#set=T moves the image slider to T on load; the
/// counts the page then shows are also written as JSON into `<pre id='selftest'>`.
#pragma once

#include <sstream>

#include "../eval/decision.hpp"
#include "evaluate.hpp"
#include "report_html.hpp"

namespace onenip::pipeline::detail {

// ROC (fpr, tpr) or PR (recall, precision) as a small SVG, with the point at the threshold.
inline std::string curve_svg(const std::vector<double>& x, const std::vector<double>& y, double mx, double my,
                             const std::string& title, const char* xl, const char* yl) {
  const int W = 220, H = 220, P = 30;
  std::ostringstream s;
  s << std::setprecision(4) << "<svg width='" << W + P << "' height='" << H + 2 * P
    << "' xmlns='http://www.w3.org/2000/svg'><text x='" << P << "' y='14' font-size='12'>" << title
    << "</text><rect x='" << P << "' y='" << P << "' width='" << W << "' height='" << H
    << "' fill='none' stroke='#999'/><polyline fill='none' stroke='#3b73b9' stroke-width='1.5' points='";
  for (size_t i = 0; i < x.size(); ++i) s << P + x[i] * W << "," << P + (1 - y[i]) * H << " ";
  s << "'/>";
  if (!std::isnan(mx) && !std::isnan(my))
    s << "<circle cx='" << P + mx * W << "' cy='" << P + (1 - my) * H << "' r='4' fill='#d9534f'/>";
  s << "<text x='" << P + W / 2 - 20 << "' y='" << H + P + 16 << "' font-size='11'>" << xl << "</text><text x='2' y='"
    << P + H / 2 << "' font-size='11'>" << yl << "</text></svg>";
  return s.str();
}

// ROC and PR of one set of scores, marked at `threshold` (NaN: unmarked); "" when undefined.
template <typename S, typename L>
std::string curve_pair(const std::vector<S>& scores, const std::vector<L>& labels, double threshold,
                       const std::string& what) {
  eval::CurvePoints c;
  try {
    c = eval::curve_points(scores, labels);
  } catch (const Error&) {
    return "";  // one label only: the metrics table already says why
  }
  double fpr = NAN, tpr = NAN, prec = NAN;
  if (!std::isnan(threshold)) {
    auto k = eval::confusion_at(scores, labels, threshold);
    fpr = double(k.fp) / double(k.fp + k.tn), tpr = double(k.tp) / double(k.tp + k.fn);
    prec = k.tp + k.fp ? double(k.tp) / double(k.tp + k.fp) : 1.0;
  }
  return curve_svg(c.fpr, c.tpr, fpr, tpr, what + " ROC", "false-positive rate", "TPR") +
         curve_svg(c.recall, c.precision, tpr, prec, what + " PR", "recall", "prec.");
}

inline std::string count_cells(const std::string& id, const eval::Confusion& k) {
  std::ostringstream s;
  s << "<td id='tp-" << id << "'>" << k.tp << "</td><td id='fp-" << id << "'>" << k.fp << "</td><td id='tn-" << id
    << "'>" << k.tn << "</td><td id='fn-" << id << "'>" << k.fn << "</td>";
  return s.str();
}

// The section, up to the per-class parts (curves and masks come with each class).
inline std::string decision_section(const EvalResult& r, double threshold, double pixel_threshold, double px_lo,
                                    double px_hi) {
  std::ostringstream h;
  h << std::setprecision(17);
  double lo = 1e300, hi = -1e300;
  for (auto& c : r.cases) lo = std::min(lo, c.score), hi = std::max(hi, c.score);
  h << "<h2>Operating point</h2><p>";
  if (r.thresholds)
    h << "Stored thresholds: " << html_escape(r.thresholds->describe()) << ".</p>";
  else
    h << "This run has no thresholds.json (run <code>onenip calibrate</code>): the sliders start at the F1-optimal "
         "thresholds of these images.</p>";
  if (r.fitted_on > 0)
    h << "<p><b>" << r.fitted_on << " of the " << r.cases.size()
      << " evaluated images were used to fit these thresholds, so the counts at them are optimistic.</b></p>";
  lo = std::min(lo, threshold), hi = std::max(hi, threshold);  // a range input clamps its value
  h << "<p>Image threshold <input type='range' id='thr' min='" << lo << "' max='" << hi << "' step='any' value='"
    << threshold << "' data-exact='" << threshold << "' style='width:30em'> <span id='thr-value'></span> (a score at or above it is anomalous)</p>"
    << "<table><tr><th>class</th><th>TP</th><th>FP</th><th>TN</th><th>FN</th></tr>";
  eval::Confusion all;
  std::vector<double> s;
  std::vector<int> l;
  for (size_t i = 0; i < r.classes.size(); ++i) {
    s.clear(), l.clear();
    for (auto& c : r.cases)
      if (c.cls == r.classes[i].cls) s.push_back(c.score), l.push_back(c.label);
    auto k = eval::confusion_at(s, l, threshold);
    all.tp += k.tp, all.fp += k.fp, all.tn += k.tn, all.fn += k.fn;
    h << "<tr><td>" << html_escape(r.classes[i].cls) << "</td>" << count_cells(std::to_string(i), k) << "</tr>";
  }
  h << "<tr><td>all</td>" << count_cells("all", all) << "</tr></table>";
  h << "<h3>Per defect type</h3><table><tr><th>class</th><th>defect</th><th>images</th><th>I-AUROC vs good</th>"
       "<th>mean score</th><th>caught at threshold</th></tr>";
  for (size_t j = 0; j < r.defects.size(); ++j) {
    auto& d = r.defects[j];
    int caught = 0;
    for (auto& c : r.cases) caught += c.cls == d.cls && c.defect == d.defect && c.label && c.score >= threshold;
    h << "<tr><td>" << html_escape(d.cls) << "</td><td>" << html_escape(d.defect) << "</td><td>" << d.images
      << "</td><td>" << pct(d.image_auroc) << "</td><td>" << std::setprecision(4) << d.mean_score
      << std::setprecision(17) << "</td><td id='det-" << j << "'>" << caught << "</td></tr>";
  }
  px_lo = std::min(px_lo, pixel_threshold), px_hi = std::max(px_hi, pixel_threshold);
  h << "</table><p>Pixel threshold (masks below) <input type='range' id='pthr' min='" << px_lo << "' max='" << px_hi
    << "' step='any' value='" << pixel_threshold << "' style='width:30em'> <span id='pthr-value'></span></p>";
  // the scores the sliders recount: [class index, defect index or -1, label, score]
  nlohmann::json cases = nlohmann::json::array(), classes = nlohmann::json::array(), defects = nlohmann::json::array();
  for (auto& m : r.classes) classes.push_back(m.cls);
  for (auto& d : r.defects) defects.push_back({d.cls, d.defect});
  for (auto& c : r.cases) {
    int ci = 0, di = -1;
    for (size_t i = 0; i < r.classes.size(); ++i)
      if (r.classes[i].cls == c.cls) ci = int(i);
    for (size_t j = 0; j < r.defects.size(); ++j)
      if (r.defects[j].cls == c.cls && r.defects[j].defect == c.defect) di = int(j);
    cases.push_back({ci, di, c.label, c.score});
  }
  h << "<pre id='selftest' style='display:none'></pre><script type='application/json' id='scores'>"
    << nlohmann::json{{"classes", classes}, {"defects", defects}, {"cases", cases}}.dump() << "</script>";
  return h.str();
}

// The page's script: recount on the image slider, redraw masks on the pixel slider.
inline const char* decision_script() {
  return R"JS(<script>
(function () {
  const D = JSON.parse(document.getElementById('scores').textContent);
  const thr = document.getElementById('thr'), pthr = document.getElementById('pthr');
  // a range input keeps 15 significant digits: until it moves, count at the exact threshold
  let exact = Number(thr.dataset.exact);
  function recount() {
    const t = exact !== null ? exact : Number(thr.value), n = D.classes.length;
    const k = [...Array(n + 1)].map(() => ({tp: 0, fp: 0, tn: 0, fn: 0})), det = D.defects.map(() => 0);
    for (const [c, d, label, s] of D.cases) {
      const hit = s >= t, key = label ? (hit ? 'tp' : 'fn') : (hit ? 'fp' : 'tn');
      k[c][key]++; k[n][key]++;
      if (label && hit && d >= 0) det[d]++;
    }
    k.forEach((v, i) => { for (const key in v) document.getElementById(key + '-' + (i < n ? i : 'all')).textContent = v[key]; });
    det.forEach((v, j) => { document.getElementById('det-' + j).textContent = v; });
    document.getElementById('thr-value').textContent = t.toPrecision(6);
    document.getElementById('selftest').textContent = JSON.stringify({threshold: t, all: k[n], classes: k.slice(0, n), caught: det});
  }
  function redraw() {  // red where the map (grey PNG over [lo, hi]) reaches the pixel threshold
    const t = Number(pthr.value);
    document.getElementById('pthr-value').textContent = t.toPrecision(6);
    for (const cv of document.querySelectorAll('canvas.mask')) {
      const im = document.getElementById(cv.dataset.img), mp = document.getElementById(cv.dataset.map);
      if (!im.complete || !mp.complete) continue;
      const w = cv.width, h = cv.height, g = cv.getContext('2d');
      g.drawImage(mp, 0, 0, w, h);
      const m = g.getImageData(0, 0, w, h).data;
      g.drawImage(im, 0, 0, w, h);
      const px = g.getImageData(0, 0, w, h), lo = Number(cv.dataset.lo), hi = Number(cv.dataset.hi);
      const level = (t - lo) / (hi - lo) * 255;
      for (let i = 0; i < m.length; i += 4)
        if (m[i] >= level) { px.data[i] = 230; px.data[i + 1] = 30; px.data[i + 2] = 30; }
      g.putImageData(px, 0, 0);
    }
  }
  thr.addEventListener('input', () => { exact = null; recount(); });
  pthr.addEventListener('input', redraw);
  const set = location.hash.match(/set=([^&]+)/);
  if (set) { thr.value = decodeURIComponent(set[1]); thr.dispatchEvent(new Event('input')); } else recount();
  window.addEventListener('load', redraw);
})();
</script>)JS";
}

}  // namespace onenip::pipeline::detail

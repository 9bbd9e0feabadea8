/// \file
/// From scores to decisions, as pure functions: an operating point (the F1-optimal threshold, or a
/// percentile of normal scores), the confusion counts at a threshold, the ROC and PR curves as
/// points, and the defect regions of a binary mask. A score at or above the threshold is
/// anomalous, as scikit-learn's precision_recall_curve counts it.
#pragma once

#include "metrics.hpp"

namespace onenip::eval {

struct OperatingPoint {
  double threshold = NAN, f1 = NAN, precision = NAN, recall = NAN;
};

/// The threshold (one of the scores) that maximises F1; of equal F1, the higher threshold.
template <typename S, typename L>
OperatingPoint f1_optimal_threshold(const std::vector<S>& scores, const std::vector<L>& labels) {
  auto c = detail::cumulative_counts(scores, labels, "F1-optimal threshold");
  detail::require_both_classes(c, "the F1-optimal threshold");
  std::vector<double> distinct;  // the scores, descending, one per entry of c
  for (auto s : scores) distinct.push_back(double(s));
  std::sort(distinct.begin(), distinct.end(), std::greater<>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  OperatingPoint best;
  best.f1 = -1;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    double p = c.tps[i] / (c.tps[i] + c.fps[i]), r = c.tps[i] / c.positives;
    double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
    if (f1 > best.f1) best = {distinct[i], f1, p, r};
  }
  return best;
}

/// The q-th percentile (0..100), interpolating linearly between order statistics (NumPy's default).
template <typename S>
double percentile(std::vector<S> values, double q) {
  ONENIP_CHECK(!values.empty(), "percentile: no values");
  ONENIP_CHECK(q >= 0 && q <= 100, "percentile must be in [0, 100], got ", q);
  std::sort(values.begin(), values.end());
  double pos = q / 100 * double(values.size() - 1);
  size_t lo = size_t(std::floor(pos)), hi = std::min(lo + 1, values.size() - 1);
  return double(values[lo]) + (pos - double(lo)) * (double(values[hi]) - double(values[lo]));
}

struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

template <typename S, typename L>
Confusion confusion_at(const std::vector<S>& scores, const std::vector<L>& labels, double threshold) {
  ONENIP_CHECK(scores.size() == labels.size(), "confusion: ", scores.size(), " scores but ", labels.size(), " labels");
  Confusion c;
  for (size_t i = 0; i < scores.size(); ++i) {
    bool flagged = double(scores[i]) >= threshold;
    (labels[i] ? (flagged ? c.tp : c.fn) : (flagged ? c.fp : c.tn)) += 1;
  }
  return c;
}

/// One point per distinct threshold, from the highest: (false-positive rate, true-positive rate)
/// and (recall, precision). At most `max_points` of them, evenly spaced in the list (the first and
/// last kept), so a curve over millions of pixels stays small enough to draw.
struct CurvePoints {
  std::vector<double> fpr, tpr, recall, precision;
};
template <typename S, typename L>
CurvePoints curve_points(const std::vector<S>& scores, const std::vector<L>& labels, size_t max_points = 400) {
  auto c = detail::cumulative_counts(scores, labels, "curve");
  detail::require_both_classes(c, "the ROC curve");
  CurvePoints out;
  out.fpr.push_back(0), out.tpr.push_back(0);
  size_t n = c.tps.size(), step = std::max<size_t>(1, (n + max_points - 1) / std::max<size_t>(max_points, 1));
  for (size_t i = 0; i < n; i += step) {
    size_t k = i + step >= n ? n - 1 : i;
    out.fpr.push_back(c.fps[k] / c.negatives);
    out.tpr.push_back(c.tps[k] / c.positives);
    out.recall.push_back(c.tps[k] / c.positives);
    out.precision.push_back(c.tps[k] / (c.tps[k] + c.fps[k]));
    if (k == n - 1) break;
  }
  return out;
}

/// A defect region: an 8-connected component of a binary mask. Box: first and last column and
/// row it covers; peak: the highest score inside it.
struct Region {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0, area = 0;
  double peak = -INFINITY;
};

/// The regions of `mask` (H x W, row-major, nonzero = defect), with peaks read from `scores`
/// (same layout), largest area first.
template <typename S>
std::vector<Region> regions(const std::vector<uint8_t>& mask, const std::vector<S>& scores, int64_t H, int64_t W) {
  ONENIP_CHECK(int64_t(mask.size()) == H * W && int64_t(scores.size()) == H * W, "regions: mask (", mask.size(),
               ") and scores (", scores.size(), ") must both have ", H, " x ", W, " values");
  std::vector<int> lab;
  int k = label_components(mask, H, W, lab);
  std::vector<Region> rs(static_cast<size_t>(k));
  for (auto& r : rs) r.x0 = W, r.y0 = H, r.x1 = -1, r.y1 = -1;
  for (int64_t p = 0; p < H * W; ++p) {
    if (!lab[size_t(p)]) continue;
    Region& r = rs[size_t(lab[size_t(p)] - 1)];
    int64_t y = p / W, x = p % W;
    r.x0 = std::min(r.x0, x), r.x1 = std::max(r.x1, x), r.y0 = std::min(r.y0, y), r.y1 = std::max(r.y1, y);
    r.area += 1;
    r.peak = std::max(r.peak, double(scores[size_t(p)]));
  }
  std::stable_sort(rs.begin(), rs.end(), [](const Region& a, const Region& b) { return a.area > b.area; });
  return rs;
}

}  // namespace onenip::eval

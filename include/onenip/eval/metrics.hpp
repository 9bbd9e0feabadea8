/// \file
/// Detection metrics, computed exactly (no binning), ties grouped as scikit-learn does:
///   roc_auc            sklearn.metrics.roc_auc_score
///   average_precision  sklearn.metrics.average_precision_score (step-wise, no interpolation)
///   f1_max             max over thresholds of 2PR/(P+R) on sklearn's precision_recall_curve
///   au_pro             area under the per-region-overlap curve up to a false-positive rate
///                      (default 0.3), divided by that limit, as in the MVTec AD evaluation code
///                      (regions = 8-connected components of each ground-truth mask)
/// Scores are higher-is-more-anomalous; labels are 0 (normal) / 1 (anomalous). When a metric is
/// undefined (all labels equal, no anomalous region) these throw onenip::Error saying so, rather
/// than returning NaN: callers report "n/a" with the message.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace onenip::eval {

namespace detail {

// Cumulative (false positives, true positives) at each distinct threshold, scores descending.
struct Curve {
  std::vector<double> fps, tps;  // counts, one entry per distinct score
  double positives = 0, negatives = 0;
};

template <typename S, typename L>
Curve cumulative_counts(const std::vector<S>& scores, const std::vector<L>& labels, const char* what) {
  ONENIP_CHECK(scores.size() == labels.size(), what, ": ", scores.size(), " scores but ", labels.size(), " labels");
  ONENIP_CHECK(!scores.empty(), what, ": no samples");
  // before sorting: NaN breaks the comparison's ordering, which std::sort must not be given
  for (size_t i = 0; i < scores.size(); ++i) ONENIP_CHECK(!std::isnan(double(scores[i])), what, ": score ", i, " is NaN");
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Curve c;
  double tp = 0, fp = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    double s = double(scores[order[i]]);
    if (labels[order[i]]) tp += 1; else fp += 1;
    bool last_of_tie = i + 1 == order.size() || double(scores[order[i + 1]]) != s;
    if (last_of_tie) {
      c.tps.push_back(tp);
      c.fps.push_back(fp);
    }
  }
  c.positives = tp;
  c.negatives = fp;
  return c;
}

inline void require_both_classes(const Curve& c, const char* what) {
  ONENIP_CHECK(c.positives > 0 && c.negatives > 0, what, " is undefined: all ", size_t(c.positives + c.negatives),
               " samples are ", c.positives > 0 ? "anomalous (label 1)" : "normal (label 0)");
}

}  // namespace detail

template <typename S, typename L>
double roc_auc(const std::vector<S>& scores, const std::vector<L>& labels) {
  auto c = detail::cumulative_counts(scores, labels, "AUROC");
  detail::require_both_classes(c, "AUROC");
  double area = 0, prev_fp = 0, prev_tp = 0;
  for (size_t i = 0; i < c.fps.size(); ++i) {  // trapezoids between distinct thresholds
    area += (c.fps[i] - prev_fp) * (c.tps[i] + prev_tp) / 2;
    prev_fp = c.fps[i];
    prev_tp = c.tps[i];
  }
  return area / (c.positives * c.negatives);
}

template <typename S, typename L>
double average_precision(const std::vector<S>& scores, const std::vector<L>& labels) {
  auto c = detail::cumulative_counts(scores, labels, "average precision");
  ONENIP_CHECK(c.positives > 0, "average precision is undefined: none of the ", size_t(c.negatives),
               " samples is anomalous (label 1)");
  double ap = 0, prev_recall = 0;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    double recall = c.tps[i] / c.positives, precision = c.tps[i] / (c.tps[i] + c.fps[i]);
    ap += (recall - prev_recall) * precision;
    prev_recall = recall;
  }
  return ap;
}

/// Best F1 over all thresholds.
template <typename S, typename L>
double f1_max(const std::vector<S>& scores, const std::vector<L>& labels) {
  auto c = detail::cumulative_counts(scores, labels, "F1-max");
  ONENIP_CHECK(c.positives > 0, "F1-max is undefined: none of the ", size_t(c.negatives),
               " samples is anomalous (label 1)");
  double best = 0;
  for (size_t i = 0; i < c.tps.size(); ++i) {
    double p = c.tps[i] / (c.tps[i] + c.fps[i]), r = c.tps[i] / c.positives;
    if (p + r > 0) best = std::max(best, 2 * p * r / (p + r));
  }
  return best;
}

/// Area under y(x) from x = 0 to x_max for points sorted by x, interpolating linearly at x_max.
inline double trapezoid_to(const std::vector<double>& x, const std::vector<double>& y, double x_max) {
  double area = 0;
  for (size_t i = 1; i < x.size(); ++i) {
    if (x[i - 1] >= x_max) break;
    double x1 = std::min(x[i], x_max);
    double y1 = x[i] > x_max ? y[i - 1] + (y[i] - y[i - 1]) * (x_max - x[i - 1]) / (x[i] - x[i - 1]) : y[i];
    area += (x1 - x[i - 1]) * (y1 + y[i - 1]) / 2;
  }
  return area;
}

/// Label the 8-connected components of a binary mask (H x W, row-major); returns their count.
inline int label_components(const std::vector<uint8_t>& mask, int64_t H, int64_t W, std::vector<int>& labels) {
  labels.assign(size_t(H * W), 0);
  int count = 0;
  std::vector<int64_t> stack;
  for (int64_t start = 0; start < H * W; ++start) {
    if (!mask[size_t(start)] || labels[size_t(start)]) continue;
    labels[size_t(start)] = ++count;
    stack.push_back(start);
    while (!stack.empty()) {
      int64_t p = stack.back();
      stack.pop_back();
      int64_t r = p / W, c = p % W;
      for (int64_t dr = -1; dr <= 1; ++dr)
        for (int64_t dc = -1; dc <= 1; ++dc) {
          int64_t rr = r + dr, cc = c + dc;
          if (rr < 0 || rr >= H || cc < 0 || cc >= W) continue;
          int64_t q = rr * W + cc;
          if (mask[size_t(q)] && !labels[size_t(q)]) {
            labels[size_t(q)] = count;
            stack.push_back(q);
          }
        }
    }
  }
  return count;
}

/// AUPRO up to `fpr_limit`, normalised by it. `maps[i]` and `masks[i]` are H x W row-major.
template <typename S>
double au_pro(const std::vector<std::vector<S>>& maps, const std::vector<std::vector<uint8_t>>& masks, int64_t H,
              int64_t W, double fpr_limit = 0.3) {
  ONENIP_CHECK(maps.size() == masks.size(), "AUPRO: ", maps.size(), " maps but ", masks.size(), " masks");
  ONENIP_CHECK(fpr_limit > 0 && fpr_limit <= 1, "AUPRO: fpr_limit must be in (0, 1], got ", fpr_limit);
  const size_t n = maps.size() * size_t(H * W);
  std::vector<double> score(n), fp_step(n, 0), pro_step(n, 0);
  double ok_pixels = 0, regions = 0;
  std::vector<int> lab;
  for (size_t m = 0; m < maps.size(); ++m) {
    ONENIP_CHECK(int64_t(maps[m].size()) == H * W && int64_t(masks[m].size()) == H * W, "AUPRO: map/mask ", m,
                 " does not have ", H, " x ", W, " pixels");
    int k = label_components(masks[m], H, W, lab);
    std::vector<double> size(size_t(k) + 1, 0);
    for (int v : lab) size[size_t(v)] += 1;
    regions += k;
    for (int64_t p = 0; p < H * W; ++p) {
      size_t i = m * size_t(H * W) + size_t(p);
      score[i] = double(maps[m][size_t(p)]);
      ONENIP_CHECK(!std::isnan(score[i]), "AUPRO: map ", m, " has a NaN score at pixel ", p);
      if (lab[size_t(p)] == 0) {
        fp_step[i] = 1;
        ok_pixels += 1;
      } else {
        pro_step[i] = 1.0 / size[size_t(lab[size_t(p)])];
      }
    }
  }
  ONENIP_CHECK(regions > 0, "AUPRO is undefined: no ground-truth mask has an anomalous pixel");
  ONENIP_CHECK(ok_pixels > 0, "AUPRO is undefined: every pixel is anomalous");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });
  std::vector<double> fpr{0}, pro{0};
  double fp = 0, pr = 0;
  for (size_t i = 0; i < n; ++i) {
    fp += fp_step[order[i]];
    pr += pro_step[order[i]];
    if (i + 1 == n || score[order[i + 1]] != score[order[i]]) {
      fpr.push_back(std::min(1.0, fp / ok_pixels));
      pro.push_back(std::min(1.0, pr / regions));
    }
  }
  return trapezoid_to(fpr, pro, fpr_limit) / fpr_limit;
}

}  // namespace onenip::eval

// Metrics against scikit-learn and the MVTec AD AUPRO code (tests/fixtures/export_metric_fixtures.py).
#include <onenip/eval/decision.hpp>
#include <onenip/eval/metrics.hpp>

#include "helpers.hpp"

using namespace onenip;

namespace {
std::vector<double> vec(const std::string& name) {
  auto t = testing::fixture("metric_fixtures.safetensors").get<double>(name);
  return std::vector<double>(t.data(), t.data() + t.numel());
}
}  // namespace

TEST_CASE("AUROC, AP and F1-max equal scikit-learn's, ties included") {
  for (const char* name : {"random", "tied", "constant", "perfect", "inverted"}) {
    auto s = vec(std::string(name) + ".scores");
    auto l = vec(std::string(name) + ".labels");
    std::vector<int> labels(l.begin(), l.end());
    auto expect = vec(std::string(name) + ".answers");
    INFO("case ", name);
    CHECK(eval::roc_auc(s, labels) == doctest::Approx(expect[0]).epsilon(1e-12));
    CHECK(eval::average_precision(s, labels) == doctest::Approx(expect[1]).epsilon(1e-12));
    CHECK(eval::f1_max(s, labels) == doctest::Approx(expect[2]).epsilon(1e-12));
  }
}

TEST_CASE("AUPRO equals the MVTec AD evaluation code (8-connected regions, FPR limit 0.3 and 1)") {
  auto maps_t = testing::fixture("metric_fixtures.safetensors").get<double>("aupro.maps");
  auto masks_t = testing::fixture("metric_fixtures.safetensors").get<double>("aupro.masks");
  int64_t N = maps_t.size(0), H = maps_t.size(1), W = maps_t.size(2);
  std::vector<std::vector<double>> maps(static_cast<size_t>(N));
  std::vector<std::vector<uint8_t>> masks(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t p = 0; p < H * W; ++p) {
      maps[size_t(i)].push_back(maps_t.data()[i * H * W + p]);
      masks[size_t(i)].push_back(uint8_t(masks_t.data()[i * H * W + p] > 0));
    }
  auto expect = vec("aupro.answers");
  CHECK(eval::au_pro(maps, masks, H, W, 0.3) == doctest::Approx(expect[0]).epsilon(1e-12));
  CHECK(eval::au_pro(maps, masks, H, W, 1.0) == doctest::Approx(expect[1]).epsilon(1e-12));
}

TEST_CASE("metrics by hand on tiny inputs") {
  std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  std::vector<int> l{0, 0, 1, 1};
  CHECK(eval::roc_auc(s, l) == doctest::Approx(0.75));
  CHECK(eval::average_precision(s, l) == doctest::Approx((1.0 + 2.0 / 3.0) / 2));
  // all-tied scores: AUROC 0.5
  CHECK(eval::roc_auc(std::vector<double>{1, 1, 1, 1}, l) == doctest::Approx(0.5));
}

TEST_CASE("degenerate inputs give a clear error, not NaN") {
  std::vector<double> s{0.1, 0.2, 0.3};
  CHECK_THROWS_WITH_AS(eval::roc_auc(s, std::vector<int>{0, 0, 0}), doctest::Contains("all 3 samples are normal"), Error);
  CHECK_THROWS_WITH_AS(eval::roc_auc(s, std::vector<int>{1, 1, 1}), doctest::Contains("anomalous"), Error);
  CHECK_THROWS_WITH_AS(eval::average_precision(s, std::vector<int>{0, 0, 0}), doctest::Contains("undefined"), Error);
  CHECK_THROWS_WITH_AS(eval::roc_auc(s, std::vector<int>{0, 1}), doctest::Contains("3 scores but 2 labels"), Error);
  CHECK_THROWS_WITH_AS(eval::roc_auc(std::vector<double>{0.1, NAN}, std::vector<int>{0, 1}), doctest::Contains("NaN"), Error);
  std::vector<std::vector<double>> maps{{0.1, 0.2, 0.3, 0.4}};
  std::vector<std::vector<uint8_t>> masks{{0, 0, 0, 0}};
  CHECK_THROWS_WITH_AS(eval::au_pro(maps, masks, 2, 2), doctest::Contains("no ground-truth mask"), Error);
}

TEST_CASE("8-connected component labelling") {
  std::vector<uint8_t> m{1, 0, 0, 0,
                         0, 1, 0, 1,
                         0, 0, 0, 1};
  std::vector<int> lab;
  CHECK(eval::label_components(m, 3, 4, lab) == 2);
  CHECK(lab[0] == lab[5]);
  CHECK(lab[7] == lab[11]);
  CHECK(lab[0] != lab[7]);
}

TEST_CASE("operating point: the F1-optimal threshold, confusion counts and curve points by hand") {
  std::vector<double> s{0.6, 0.9, 0.5, 0.7, 0.8};
  std::vector<int> l{0, 1, 0, 1, 0};
  // thresholds 0.9 / 0.8 / 0.7 / 0.6 give F1 2/3, 1/2, 4/5, 2/3
  auto op = eval::f1_optimal_threshold(s, l);
  CHECK(op.threshold == 0.7);
  CHECK(op.f1 == doctest::Approx(0.8));
  CHECK(op.f1 == doctest::Approx(eval::f1_max(s, l)));
  CHECK(op.precision == doctest::Approx(2.0 / 3));
  CHECK(op.recall == 1.0);
  auto c = eval::confusion_at(s, l, op.threshold);  // at the threshold counts as anomalous
  CHECK(c.tp == 2);
  CHECK(c.fp == 1);
  CHECK(c.tn == 2);
  CHECK(c.fn == 0);
  auto all = eval::curve_points(s, l);
  CHECK(all.fpr == std::vector<double>{0, 0, 1.0 / 3, 1.0 / 3, 2.0 / 3, 1});
  CHECK(all.tpr == std::vector<double>{0, 0.5, 0.5, 1, 1, 1});
  CHECK(all.precision == std::vector<double>{1, 0.5, 2.0 / 3, 0.5, 0.4});
  auto few = eval::curve_points(s, l, 2);  // every third point, and the last
  CHECK(few.fpr == std::vector<double>{0, 0, 1});
  CHECK(few.tpr == std::vector<double>{0, 0.5, 1});
  CHECK_THROWS_WITH_AS(eval::f1_optimal_threshold(s, std::vector<int>(5, 0)), doctest::Contains("normal"), Error);
}

TEST_CASE("percentile interpolates linearly between order statistics, as NumPy does") {
  std::vector<float> v{4, 1, 3, 2};
  CHECK(eval::percentile(v, 0) == 1);
  CHECK(eval::percentile(v, 50) == doctest::Approx(2.5));
  CHECK(eval::percentile(v, 90) == doctest::Approx(3.7));
  CHECK(eval::percentile(v, 100) == 4);
  CHECK_THROWS_WITH_AS(eval::percentile(v, 101), doctest::Contains("[0, 100]"), Error);
  CHECK_THROWS_WITH_AS(eval::percentile(std::vector<float>{}, 50), doctest::Contains("no values"), Error);
}

TEST_CASE("defect regions: boxes, areas and peaks of the 8-connected components, largest first") {
  std::vector<uint8_t> m{1, 0, 0, 0, 1,
                         0, 1, 0, 0, 1,
                         0, 1, 0, 0, 1};
  std::vector<float> s(15);
  for (size_t i = 0; i < s.size(); ++i) s[i] = float(i) * (i == 4 ? 10.0f : 1.0f);
  auto r = eval::regions(m, s, 3, 5);
  REQUIRE(r.size() == 2);
  // the left diagonal (3 pixels) before the right column (3 pixels): equal areas keep raster order
  CHECK(r[0].area == 3);
  CHECK((r[0].x0 == 0 && r[0].x1 == 1 && r[0].y0 == 0 && r[0].y1 == 2));
  CHECK(r[0].peak == 11);
  CHECK((r[1].x0 == 4 && r[1].x1 == 4 && r[1].y0 == 0 && r[1].y1 == 2));
  CHECK(r[1].peak == 40);
  m[3] = 1;  // joins the right column: now 4 pixels, first
  r = eval::regions(m, s, 3, 5);
  CHECK(r[0].area == 4);
  CHECK(r[0].x0 == 3);
  CHECK(eval::regions(std::vector<uint8_t>(15, 0), s, 3, 5).empty());
  CHECK_THROWS_WITH_AS(eval::regions(m, s, 4, 5), doctest::Contains("4 x 5"), Error);
}

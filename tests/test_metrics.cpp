// Metrics against scikit-learn and the MVTec AD AUPRO code (tests/fixtures/export_metric_fixtures.py).
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

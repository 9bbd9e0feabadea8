// Numerical guards: softmax, log-softmax, layer norm, the Dice loss and attention stay finite and
// right on extreme inputs (logits near the type's limits, constant rows, fully masked rows,
// empty masks), forward and backward, on every backend; the metrics on degenerate score sets
// (all equal, one class, empty masks, NaN) give the defined value or refuse with an Error.
#include <onenip/eval/metrics.hpp>

#include "helpers.hpp"

using namespace onenip;
using testing::check_close;

namespace {

template <typename T>
Tensor<T> on(Device d, const std::vector<T>& values, const Shape& shape) {
  return Tensor<T>::from_vector(values, shape).to(d);
}

template <typename T>
bool all_finite(const Tensor<T>& t) {
  Tensor<T> c = t.cpu().contiguous();
  for (int64_t i = 0; i < c.numel(); ++i)
    if (!std::isfinite(double(c.data()[i]))) return false;
  return true;
}

// y = f(x) on device d and x's gradient for the upstream gradient `up` (both on the CPU).
template <typename T, typename F>
std::pair<Tensor<T>, Tensor<T>> forward_backward(Device d, const Tensor<T>& x_cpu, const Tensor<T>& up, F f) {
  Tensor<T> x = x_cpu.to(d).detach();
  x.set_requires_grad(true);
  Tensor<T> y = f(x);
  sum(y * up.to(d)).backward();
  return {y.cpu(), x.grad().cpu()};
}

template <typename T>
constexpr T big() {  // logits near the type's limit: their difference overflows
  return std::is_same_v<T, float> ? T(3e38) : T(1e307);
}

}  // namespace

TEST_CASE_TEMPLATE("softmax and log_softmax: huge, constant and masked rows stay finite and exact", T, float, double) {
  const T inf = std::numeric_limits<T>::infinity(), B = big<T>();
  // rows: huge of both signs; near the limit; constant; partly masked; fully masked
  const std::vector<T> x = {T(1e30), T(-1e30), 0, 0,  B, -B, B, 0,  7, 7, 7, 7,  -inf, 1, -inf, 1,  -inf, -inf, -inf, -inf};
  const Tensor<T> xt = Tensor<T>::from_vector(x, {5, 4});
  Generator g(3);
  const Tensor<T> up = randn<T>({5, 4}, T(0), T(1), g);
  for (Device d : available_devices()) {
    CAPTURE(device_name(d));
    auto [y, dx] = forward_backward<T>(d, xt, up, [](const Tensor<T>& v) { return softmax(v, -1); });
    check_close(y, TensorD::from_vector({1, 0, 0, 0,  0.5, 0, 0.5, 0,  0.25, 0.25, 0.25, 0.25,  0, 0.5, 0, 0.5,  0, 0, 0, 0}, {5, 4}), 1e-6, 1e-6);
    CHECK(all_finite(dx));
    // the fully masked row: zero gradient (it has no weights to move)
    for (int64_t j = 0; j < 4; ++j) CHECK(dx.at({4, j}) == T(0));
    auto [ly, ldx] = forward_backward<T>(d, xt, up, [](const Tensor<T>& v) { return log_softmax(v, -1); });
    CHECK(double(ly.at({0, 0})) == 0.0);
    CHECK(double(ly.at({0, 1})) == doctest::Approx(-2e30).epsilon(1e-6));
    check_close(ly.slice(0, 2, 3), full<double>({1, 4}, -std::log(4.0)), 1e-6, 1e-6);
    CHECK(double(ly.at({3, 1})) == doctest::Approx(-std::log(2.0)).epsilon(1e-6));
    CHECK(ly.at({3, 0}) == -inf);  // log(0) where the entry is masked, and the whole masked row
    CHECK(ly.at({4, 2}) == -inf);
    CHECK(all_finite(ldx.slice(0, 0, 4)));
  }
}

TEST_CASE_TEMPLATE("layer_norm: constant rows give the bias, rows near the type's limit normalise to +-1", T, float, double) {
  const T B = big<T>() / 2;
  const Tensor<T> x = Tensor<T>::from_vector({5, 5, 5, 5,  B, -B, B, -B,  B, B, B, -B,  T(1e20), T(-1e20), 0, 0}, {4, 4});
  const Tensor<T> w = Tensor<T>::from_vector({1, 2, 3, 4}, {4}), b = Tensor<T>::from_vector({1, -1, 0.5, 0}, {4});
  Generator g(5);
  const Tensor<T> up = randn<T>({4, 4}, T(0), T(1), g);
  // x hat: row 1 +-1; row 2 (mean B/2, std B sqrt(3)/2) 1/sqrt(3) and -sqrt(3); row 3 +-sqrt(2)
  const double r3 = std::sqrt(3.0), r2 = std::sqrt(2.0);
  const TensorD want = TensorD::from_vector(
      {1, -1, 0.5, 0,  2, -3, 3.5, -4,  1 + 1 / r3, -1 + 2 / r3, 0.5 + 3 / r3, -4 * r3,  1 + r2, -1 - 2 * r2, 0.5, 0}, {4, 4});
  for (Device d : available_devices()) {
    CAPTURE(device_name(d));
    auto [y, dx] = forward_backward<T>(d, x, up, [&](const Tensor<T>& v) { return layer_norm(v, w.to(d), b.to(d)); });
    check_close(y, want, 1e-4, 1e-4);
    CHECK(all_finite(dx));
  }
}

TEST_CASE_TEMPLATE("Dice loss: empty prediction and empty mask is a perfect match in both forms", T, float, double) {
  // sample 0: both empty (e.g. a sigmoid that underflowed to 0 on a normal image); sample 1: a
  // hit; sample 2: an empty prediction of a non-empty mask
  const Tensor<T> p = Tensor<T>::from_vector({0, 0, 0, 0,  1, 0, 0, 0,  0, 0, 0, 0}, {3, 1, 2, 2});
  const Tensor<T> t = Tensor<T>::from_vector({0, 0, 0, 0,  1, 0, 0, 0,  1, 1, 0, 0}, {3, 1, 2, 2});
  const Tensor<T> up = ones<T>({});
  for (Device d : available_devices()) {
    CAPTURE(device_name(d));
    for (nn::DiceForm form : {nn::DiceForm::paper, nn::DiceForm::reference}) {
      CAPTURE(nn::dice_form_name(form));
      const Tensor<T> td = t.to(d);
      auto [loss, dp] = forward_backward<T>(d, p, up, [&](const Tensor<T>& v) { return nn::dice_loss(v, td, form); });
      // paper: 1 - mean(1, 1, 0); reference: 1 - mean(1, 2/3, 1/3)
      CHECK(double(loss.item()) == doctest::Approx(1.0 / 3).epsilon(1e-6));
      CHECK(all_finite(dp));
    }
  }
}

TEST_CASE_TEMPLATE("attention: huge scores and fully masked rows stay finite, forward and backward", T, float, double) {
  const T inf = std::numeric_limits<T>::infinity();
  Generator g(9);
  // scores of order 1e30: the softmax is one-hot, the shift by the row max keeps exp() finite
  Tensor<T> q = randn<T>({1, 2, 3, 4}, T(0), T(1), g) * T(1e15), k = randn<T>({1, 2, 5, 4}, T(0), T(1), g) * T(1e15);
  Tensor<T> v = randn<T>({1, 2, 5, 4}, T(0), T(1), g), up = randn<T>({1, 2, 3, 4}, T(0), T(1), g);
  Tensor<T> mask = zeros<T>({3, 5});
  for (int64_t j = 0; j < 5; ++j) mask.at_ref({1, j}) = -inf;  // query row 1 sees no key
  for (Device d : available_devices()) {
    CAPTURE(device_name(d));
    const Tensor<T> kd = k.to(d), vd = v.to(d), md = mask.to(d);
    for (bool fused : {true, false}) {
      CAPTURE(fused);
      auto f = [&](const Tensor<T>& qd) {
        return fused ? scaled_dot_product_attention(qd, kd, vd, md) : attention_composite(qd, kd, vd, md);
      };
      auto [out, dq] = forward_backward<T>(d, q, up, f);
      CHECK(all_finite(out));
      CHECK(all_finite(dq));
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t c = 0; c < 4; ++c) CHECK(out.at({0, h, 1, c}) == T(0));  // the masked row: 0
    }
  }
}

TEST_CASE("metrics: all-equal scores, one class, NaN and empty masks") {
  const std::vector<float> same(6, 0.5f);
  const std::vector<int> labels = {0, 1, 0, 0, 1, 0};
  // one threshold: AUROC is the diagonal, AP and precision are the positive rate
  CHECK(eval::roc_auc(same, labels) == doctest::Approx(0.5));
  CHECK(eval::average_precision(same, labels) == doctest::Approx(1.0 / 3));
  CHECK(eval::f1_max(same, labels) == doctest::Approx(2 * (1.0 / 3) / (1.0 / 3 + 1)));
  // infinite scores are ordinary extremes
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(eval::roc_auc(std::vector<float>{-inf, inf, 0, -inf, inf, 1}, labels) == doctest::Approx(1.0));
  // undefined: one class only, no samples, a NaN score (refused before sorting)
  CHECK_THROWS_AS(eval::roc_auc(same, std::vector<int>(6, 0)), Error);
  CHECK_THROWS_AS(eval::roc_auc(same, std::vector<int>(6, 1)), Error);
  CHECK_THROWS_AS(eval::average_precision(same, std::vector<int>(6, 0)), Error);
  CHECK_THROWS_AS(eval::f1_max(same, std::vector<int>(6, 0)), Error);
  CHECK_THROWS_AS(eval::roc_auc(std::vector<float>{}, std::vector<int>{}), Error);
  std::vector<float> with_nan(40, 0.25f);
  for (size_t i = 0; i < with_nan.size(); i += 3) with_nan[i] = std::nanf("");
  std::vector<int> many(40, 0);
  many[1] = many[7] = 1;
  CHECK_THROWS_WITH_AS(eval::roc_auc(with_nan, many), doctest::Contains("NaN"), Error);
  CHECK_THROWS_WITH_AS(eval::average_precision(with_nan, many), doctest::Contains("NaN"), Error);

  // AUPRO (2 x 3 maps): equal scores put the whole curve on the diagonal, 0.3^2 / 2 / 0.3
  const std::vector<std::vector<float>> maps = {std::vector<float>(6, 0.5f), std::vector<float>(6, 0.5f)};
  const std::vector<std::vector<uint8_t>> masks = {{0, 1, 1, 0, 0, 0}, {0, 0, 0, 0, 0, 0}};
  CHECK(eval::au_pro(maps, masks, 2, 3) == doctest::Approx(0.15));
  const std::vector<std::vector<uint8_t>> empty(2, std::vector<uint8_t>(6, 0)), full(2, std::vector<uint8_t>(6, 1));
  CHECK_THROWS_WITH_AS(eval::au_pro(maps, empty, 2, 3), doctest::Contains("no ground-truth mask"), Error);
  CHECK_THROWS_WITH_AS(eval::au_pro(maps, full, 2, 3), doctest::Contains("every pixel"), Error);
  std::vector<std::vector<float>> nan_maps = maps;
  nan_maps[1][4] = std::nanf("");
  CHECK_THROWS_WITH_AS(eval::au_pro(nan_maps, masks, 2, 3), doctest::Contains("NaN"), Error);
}

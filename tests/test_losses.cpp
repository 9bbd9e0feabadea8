// Losses: values against PyTorch (tests/fixtures/export_nn_io_fixtures.py), by hand, gradients.
#include "helpers.hpp"

using namespace onenip;
using nn::DiceForm;
using testing::check_gradients;

namespace {
template <typename T>
void check_against_torch(double tol) {
  auto& f = testing::fixture("nn_io_fixtures.safetensors");
  auto p = f.get<T>("loss.p"), t = f.get<T>("loss.t"), a = f.get<T>("loss.a"), b = f.get<T>("loss.b");
  CHECK(nn::mse_loss(a, b).item() == doctest::Approx(f.get<double>("loss.mse").item()).epsilon(tol));
  CHECK(nn::dice_loss(p, t, DiceForm::paper).item() == doctest::Approx(f.get<double>("loss.dice_paper").item()).epsilon(tol));
  CHECK(nn::dice_loss(p, t, DiceForm::reference).item() ==
        doctest::Approx(f.get<double>("loss.dice_reference").item()).epsilon(tol));
}
}  // namespace

TEST_CASE("mse_loss and both Dice forms match PyTorch (float and double)") {
  check_against_torch<float>(1e-6);
  check_against_torch<double>(1e-14);
}

TEST_CASE("Dice by hand: perfect, empty and per-sample mean") {
  // one sample, a perfect 3x3 blob in 5x5: paper -> 0; reference -> 1 - (9+1)/(18+1)
  auto m = zeros<double>({1, 1, 5, 5});
  for (int i = 1; i < 4; ++i)
    for (int j = 1; j < 4; ++j) m.at_ref({0, 0, i, j}) = 1;
  CHECK(nn::dice_loss(m, m, DiceForm::paper).item() == doctest::Approx(0.0));
  CHECK(nn::dice_loss(m, m, DiceForm::reference).item() == doctest::Approx(1 - 10.0 / 19.0));
  // empty mask and zero prediction: a perfect match in both forms (reference: the smoothing;
  // paper: defined so, instead of 0/0)
  auto z = zeros<double>({1, 1, 5, 5});
  CHECK(nn::dice_loss(z, z, DiceForm::reference).item() == 0.0);
  CHECK(nn::dice_loss(z, z, DiceForm::paper).item() == 0.0);
  // the batch mean of per-sample losses (not one Dice over the whole batch)
  auto both = cat(std::vector<TensorD>{m, z}, 0), pred = cat(std::vector<TensorD>{m, m}, 0);
  double per0 = 1 - 10.0 / 19.0, per1 = 1 - 1.0 / 10.0;  // sample 1: inter 0, sum p^2 = 9
  CHECK(nn::dice_loss(pred, both, DiceForm::reference).item() == doctest::Approx((per0 + per1) / 2));
  CHECK(std::string(nn::dice_form_name(DiceForm::reference)) == "reference");
}

TEST_CASE("loss gradients (double, finite differences)") {
  auto p = sigmoid(randn<double>({2, 1, 3, 4})), t = rand<double>({2, 1, 3, 4});
  check_gradients([](auto& in) { return nn::mse_loss(in[0], in[1]); }, {randn<double>({2, 3}), randn<double>({2, 3})});
  check_gradients([](auto& in) { return nn::dice_loss(in[0], in[1], DiceForm::paper); }, {p, t});
  check_gradients([](auto& in) { return nn::dice_loss(in[0], in[1], DiceForm::reference); }, {p, t});
}

TEST_CASE("losses refuse mismatched shapes") {
  CHECK_THROWS_WITH_AS(nn::mse_loss(zeros<float>({2, 3}), zeros<float>({3, 2})),
                       doctest::Contains("mse_loss: input [2, 3] and target [3, 2] differ in shape"), Error);
  CHECK_THROWS_WITH_AS(nn::dice_loss(zeros<float>({2, 1, 4}), zeros<float>({2, 4}), DiceForm::paper),
                       doctest::Contains("dice_loss: prediction [2, 1, 4] and target [2, 4] must have the same shape"), Error);
  CHECK_THROWS_WITH_AS(nn::dice_loss(zeros<float>({4}), zeros<float>({4}), DiceForm::paper),
                       doctest::Contains("at least 2 dims"), Error);
}

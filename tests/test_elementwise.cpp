// Elementwise ops: values, broadcasting, gradients (double, finite differences).
#include "helpers.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_values;

TEST_CASE("arithmetic values with broadcasting") {
  auto a = tensor<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto row = tensor<float>({10, 20, 30}, {3});
  auto col = tensor<float>({100, 200}, {2, 1});
  check_values(a + row, {11, 22, 33, 14, 25, 36});
  check_values(a - col, {-99, -98, -97, -196, -195, -194});
  check_values(a * row, {10, 40, 90, 40, 100, 180});
  check_values(a / col, {0.01, 0.02, 0.03, 0.02, 0.025, 0.03}, 1e-7);
  check_values(col + row, {110, 120, 130, 210, 220, 230});  // [2,1] + [3] -> [2,3]
  check_values(a * 2.0f + 1.0f, {3, 5, 7, 9, 11, 13});
  check_values(1.0f - a, {0, -1, -2, -3, -4, -5});
  check_values(-a / 2.0f, {-0.5, -1, -1.5, -2, -2.5, -3});
  // non-contiguous operands
  check_values(a.transpose(0, 1) + tensor<float>({1, 1}, {2}), {2, 5, 3, 6, 4, 7});
}

TEST_CASE("unary values") {
  auto x = tensor<double>({-2, -0.5, 0.5, 2});
  check_values(exp(x), {std::exp(-2), std::exp(-0.5), std::exp(0.5), std::exp(2)}, 1e-12);
  check_values(abs(x), {2, 0.5, 0.5, 2});
  check_values(square(x), {4, 0.25, 0.25, 4});
  check_values(clamp(x, -1.0, 1.0), {-1, -0.5, 0.5, 1});
  check_values(relu(x), {0, 0, 0.5, 2});
  check_values(sigmoid(x), {1 / (1 + std::exp(2)), 1 / (1 + std::exp(0.5)), 1 / (1 + std::exp(-0.5)),
                            1 / (1 + std::exp(-2))}, 1e-12);
  check_values(tanh(x), {std::tanh(-2), std::tanh(-0.5), std::tanh(0.5), std::tanh(2)}, 1e-12);
  auto p = tensor<double>({0.25, 1, 4});
  check_values(sqrt(p), {0.5, 1, 2});
  check_values(log(p), {std::log(0.25), 0, std::log(4)}, 1e-12);
  check_values(pow(p, 1.5), {0.125, 1, 8}, 1e-12);
  check_values(maximum(x, tensor<double>({0.0})), {0, 0, 0.5, 2});
  check_values(minimum(x, tensor<double>({0.0})), {-2, -0.5, 0, 0});
}

TEST_CASE("binary gradients, broadcast gradients summed back to the input shape") {
  auto a = randn<double>({2, 3, 4});
  auto b = randn<double>({3, 1});
  auto pos = add(rand<double>({3, 1}), 0.5);
  check_gradients([](auto& in) { return in[0] + in[1]; }, {a, b});
  check_gradients([](auto& in) { return in[0] - in[1]; }, {a, b});
  check_gradients([](auto& in) { return in[0] * in[1]; }, {a, b});
  check_gradients([](auto& in) { return in[0] / in[1]; }, {a, pos});
  check_gradients([](auto& in) { return maximum(in[0], in[1]); }, {a, b});
  check_gradients([](auto& in) { return minimum(in[0], in[1]); }, {a, b});
  // the shapes of the gradients are the inputs' shapes
  auto x = b.clone().set_requires_grad();
  sum(a * x).backward();
  CHECK(x.grad().shape() == Shape{3, 1});
  testing::check_close(x.grad(), sum(a, {0, 2}, true).reshape({3, 1}), 1e-12);
}

TEST_CASE("unary gradients") {
  auto x = randn<double>({3, 4});
  auto p = add(rand<double>({3, 4}), 0.1);
  check_gradients([](auto& in) { return neg(in[0]); }, {x});
  check_gradients([](auto& in) { return exp(in[0]); }, {x});
  check_gradients([](auto& in) { return log(in[0]); }, {p});
  check_gradients([](auto& in) { return sqrt(in[0]); }, {p});
  check_gradients([](auto& in) { return pow(in[0], 2.5); }, {p});
  check_gradients([](auto& in) { return square(in[0]); }, {x});
  check_gradients([](auto& in) { return abs(in[0]); }, {x});
  check_gradients([](auto& in) { return clamp(in[0], -0.5, 0.5); }, {x});
  check_gradients([](auto& in) { return relu(in[0]); }, {x});
  check_gradients([](auto& in) { return sigmoid(in[0]); }, {x});
  check_gradients([](auto& in) { return tanh(in[0]); }, {x});
  check_gradients([](auto& in) { return in[0] * 3.0 + 2.0; }, {x});
}

TEST_CASE("in-place methods bump the version and honour strides") {
  auto t = zeros<float>({2, 3});
  uint64_t v = t.version();
  t.transpose(0, 1).add_(tensor<float>({1, 2}, {2}));  // column j of t^T gets j+1
  CHECK(t.version() > v);
  check_values(t, {1, 1, 1, 2, 2, 2});
  t.mul_(2.f);
  check_values(t, {2, 2, 2, 4, 4, 4});
  t.copy_(tensor<float>({7, 8, 9}));
  check_values(t, {7, 8, 9, 7, 8, 9});
  t.zero_();
  check_values(t, {0, 0, 0, 0, 0, 0});
}

TEST_CASE("cast between float and double") {
  auto d = tensor<double>({1.5, -2.25});
  auto f = cast<float>(d);
  CHECK(f.at({1}) == -2.25f);
}

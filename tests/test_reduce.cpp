// Reductions: sum, mean, max/min with indices, argmax; keepdim; gradients.
#include "helpers.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_values;

TEST_CASE("sum and mean over dims, keepdim") {
  auto t = arange<double>(0, 24).reshape({2, 3, 4});
  CHECK(sum(t).item() == 276);
  CHECK(sum(t).dim() == 0);
  check_values(sum(t, {0}), {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  check_values(sum(t, {2}), {6, 22, 38, 54, 70, 86});
  check_values(sum(t, {0, 2}), {60, 92, 124});
  check_values(sum(t, {-1, 0}), {60, 92, 124});
  CHECK(sum(t, {1}, true).shape() == Shape{2, 1, 4});
  check_values(sum(t, {1}, true), {12, 15, 18, 21, 48, 51, 54, 57});
  check_values(mean(t, {1}), {4, 5, 6, 7, 16, 17, 18, 19});
  CHECK(mean(t).item() == 11.5);
  // non-contiguous input
  check_values(sum(t.permute({2, 0, 1}), {2}), {12, 48, 15, 51, 18, 54, 21, 57});
}

TEST_CASE("max / min over a dim with indices, argmax, first index wins ties") {
  auto t = tensor<float>({3, 7, 7, 1, -2, 5}, {2, 3});
  IndexTensor idx;
  auto m = max(t, 1, false, &idx);
  check_values(m, {7, 5});
  CHECK(idx.values == std::vector<int64_t>{1, 2});
  check_values(min(t, 0), {1, -2, 5});
  CHECK(argmax(t, 0).values == std::vector<int64_t>{0, 0, 0});
  CHECK(argmin(t, 1, true).shape == Shape{2, 1});
  CHECK(max(t).item() == 7);
  CHECK(min(t).item() == -2);
  CHECK(max(t, 0, true).shape() == Shape{1, 3});
}

TEST_CASE("reduction gradients") {
  auto x = randn<double>({3, 4, 5});
  check_gradients([](auto& in) { return sum(in[0]); }, {x});
  check_gradients([](auto& in) { return sum(in[0], {1}); }, {x});
  check_gradients([](auto& in) { return sum(in[0], {0, 2}, true); }, {x});
  check_gradients([](auto& in) { return mean(in[0], {2}); }, {x});
  check_gradients([](auto& in) { return mean(in[0].transpose(0, 2), {0}); }, {x});
  check_gradients([](auto& in) { return max(in[0], 1); }, {x});
  check_gradients([](auto& in) { return min(in[0], 2, true); }, {x});
  check_gradients([](auto& in) { return sum_to(in[0], Shape{4, 1}); }, {x});
}

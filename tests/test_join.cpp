// cat, stack, split, chunk, index_select, gather.
#include "helpers.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_values;

TEST_CASE("cat and stack values and errors") {
  auto a = tensor<float>({1, 2, 3, 4}, {2, 2}), b = tensor<float>({5, 6}, {1, 2});
  check_values(cat<float>({a, b}, 0), {1, 2, 3, 4, 5, 6});
  check_values(cat<float>({a, a}, 1), {1, 2, 1, 2, 3, 4, 3, 4});
  CHECK(stack<float>({a, a}, 0).shape() == Shape{2, 2, 2});
  check_values(stack<float>({a, a}, 2), {1, 1, 2, 2, 3, 3, 4, 4});
  CHECK_THROWS_WITH_AS(cat<float>({a, b}, 1), doctest::Contains("[1, 2]"), Error);
  CHECK_THROWS_WITH_AS(stack<float>({a, b}), doctest::Contains("[1, 2]"), Error);
}

TEST_CASE("split, chunk, index_select, gather") {
  auto t = arange<double>(0, 10);
  auto parts = split(t, 4);
  REQUIRE(parts.size() == 3);
  check_values(parts[2], {8, 9});
  CHECK(chunk(t, 2)[1].numel() == 5);
  auto m = arange<double>(0, 6).reshape({3, 2});
  check_values(index_select(m, 0, {2, 0, 2}), {4, 5, 0, 1, 4, 5});
  IndexTensor idx{{3, 1}, {1, 0, 1}};
  check_values(gather(m, 1, idx), {1, 2, 5});
  CHECK_THROWS_WITH_AS(index_select(m, 0, {3}), doctest::Contains("out of range"), Error);
}

TEST_CASE("join gradients") {
  auto a = randn<double>({2, 3}), b = randn<double>({4, 3});
  check_gradients([](auto& in) { return cat<double>({in[0], in[1], in[0]}, 0); }, {a, b});
  check_gradients([](auto& in) { return stack<double>({in[0], in[0] * 2.0}, 1); }, {a});
  check_gradients([](auto& in) { return index_select(in[0], 0, {3, 1, 3}); }, {b});
  check_gradients([](auto& in) { return gather(in[0], 1, IndexTensor{{2, 2}, {2, 2, 0, 1}}); }, {a});
  check_gradients([](auto& in) { return split(in[0], 2, 1)[1]; }, {a});
}

// cat, stack, split, chunk, index_select, gather.
#include "op_harness.hpp"

using namespace onenip;
using testing::check_values;
using testing::Op;

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

TEST_CASE("join ops through the op harness") {
  using testing::In;
  Op("cat dim 0", []<class T>(const In<T>& x) { return cat<T>({x[0], x[1], x[0]}, 0); }).in({2, 3}).in({4, 3}).check();
  Op("cat dim 1, transposed operand", []<class T>(const In<T>& x) { return cat<T>({x[0], x[1]}, 1); })
      .in({3, 2}).in({3, 4}, testing::normal(), testing::transposed(0, 1)).check();
  Op("stack dim 1", []<class T>(const In<T>& x) { return stack<T>({x[0], x[0] * T(2)}, 1); }).in({2, 3}).check();
  Op("index_select", []<class T>(const In<T>& x) { return index_select(x[0], 0, {3, 1, 3}); }).in({4, 3}).check();
  Op("gather", []<class T>(const In<T>& x) { return gather(x[0], 1, IndexTensor{{2, 2}, {2, 2, 0, 1}}); })
      .in({2, 3}).check();
  Op("split", []<class T>(const In<T>& x) { return split(x[0], 2, 1)[1]; }).in({2, 3}).check();
}

TEST_CASE("index ops with repeated indices and middle dims through the op harness") {
  using testing::In;
  // dim 1 of [2, 4, 3]: outer and inner > 1; row 2 picked three times, row 0 never
  Op("index_select dim 1, repeats", []<class T>(const In<T>& x) { return index_select(x[0], 1, {2, 1, 2, 3, 2}); })
      .in({2, 4, 3}).check();
  Op("gather dim 0 of 3-D, repeats", []<class T>(const In<T>& x) {
    return gather(x[0], 0, IndexTensor{{2, 2, 3}, {1, 1, 0, 2, 1, 1, 1, 1, 0, 0, 2, 2}});
  }).in({3, 2, 3}).check();
  Op("gather dim 2, index narrower than the input", []<class T>(const In<T>& x) {
    return gather(x[0], 2, IndexTensor{{2, 2, 3}, {3, 3, 0, 1, 1, 1, 2, 0, 3, 3, 3, 3}});
  }).in({2, 3, 4}).check();
  // their gradients go back through scatter_add
  Op("max dim 1 with gradient", []<class T>(const In<T>& x) { return max(x[0], 1); }).in({3, 5}).check();
  Op("min dim 0 keepdim with gradient", []<class T>(const In<T>& x) { return min(x[0], 0, true); }).in({4, 3, 2}).check();
}

TEST_CASE("index kernels name an out-of-range index on every device that checks it") {
  for (Device d : available_devices()) {
    if (d == Device::CPU) continue;  // the CPU kernels trust the op's check
    INFO("device ", device_name(d));
    TensorF src = zeros<float>({4, 3}, d), dst = zeros<float>({2, 3}, d);
    const std::vector<int64_t> bad{1, 4};
    CHECK_THROWS_WITH_AS(kernels::index_add<float>({d, 1, 4, 3, 2, bad.data(), src.data_ptr(), dst.data_ptr()}),
                         doctest::Contains("index_add: index 4 (position 1) out of range for a dim of size 4"), Error);
    CHECK_THROWS_WITH_AS(kernels::index_select<float>({d, 1, 4, 3, 2, bad.data(), src.data_ptr(), dst.data_ptr()}),
                         doctest::Contains("index_select: index 4 (position 1)"), Error);
    CHECK_THROWS_WITH_AS(index_select(src, 0, {0, -1}), doctest::Contains("out of range"), Error);
  }
}

// Reductions: sum, mean, max/min with indices, argmax; keepdim; gradients.
#include "op_harness.hpp"

using namespace onenip;
using testing::check_values;
using testing::Op;

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

TEST_CASE("reductions through the op harness: contiguous and permuted inputs, gradients") {
  using testing::In;
  for (auto layout : {testing::Layout{}, testing::transposed(0, 2)}) {
    auto op = [&](const std::string& name, auto f) { Op(name, f).in({3, 4, 5}, testing::normal(), layout).check(); };
    op("sum", []<class T>(const In<T>& x) { return sum(x[0]); });
    op("sum dim 1", []<class T>(const In<T>& x) { return sum(x[0], {1}); });
    op("sum dims 0, 2 keepdim", []<class T>(const In<T>& x) { return sum(x[0], {0, 2}, true); });
    op("mean dim 2", []<class T>(const In<T>& x) { return mean(x[0], {2}); });
    op("mean of a transposed view", []<class T>(const In<T>& x) { return mean(x[0].transpose(0, 2), {0}); });
    op("max dim 1", []<class T>(const In<T>& x) { return max(x[0], 1); });
    op("min dim 2 keepdim", []<class T>(const In<T>& x) { return min(x[0], 2, true); });
    op("sum_to [4, 1]", []<class T>(const In<T>& x) { return sum_to(x[0], Shape{4, 1}); });
  }
  // mean is sum / n
  Op("mean dims 0, 1", []<class T>(const In<T>& x) { return mean(x[0], {0, 1}); })
      .in({3, 4, 5})
      .ref([](const In<double>& x) { return sum(x[0], {0, 1}) / 12.0; }, true)
      .check();
}

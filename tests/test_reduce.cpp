// Reductions: sum, mean, max/min with indices, argmax; keepdim; gradients.
#include <cmath>
#include <limits>

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

// Shapes that take the device kernels' other paths: rows longer than a block, rows cut into
// segments (len > 8192), column sums cut into segments (len > 1024), length-1 rows, many rows.
TEST_CASE("reductions through the op harness: long, segmented, length-1 and many rows") {
  using testing::In;
  Op("sum of rows of 3000", []<class T>(const In<T>& x) { return sum(x[0], {1}); }).in({2, 3000}).directions(4).check();
  Op("sum of one row of 10000", []<class T>(const In<T>& x) { return sum(x[0]); }).in({10000}).directions(4).check();
  Op("sum over a leading dim of 1500", []<class T>(const In<T>& x) { return sum(x[0], {0}); })
      .in({1500, 3}).directions(4).check();
  Op("sum over a length-1 dim", []<class T>(const In<T>& x) { return sum(x[0], {1}); }).in({5, 1, 4}).check();
  Op("mean of 300 rows", []<class T>(const In<T>& x) { return mean(x[0], {1}); }).in({300, 7}).directions(4).check();
  // forward only: the gradient of max goes through scatter_add
  Op("max of rows of 3000", []<class T>(const In<T>& x) { return max(x[0], 1); }).in({3, 3000}).no_grad().check();
  Op("min of 300 rows", []<class T>(const In<T>& x) { return min(x[0], 1); }).in({300, 5}).no_grad().check();
  Op("max over length 1", []<class T>(const In<T>& x) { return max(x[0], 1); }).in({4, 1}).no_grad().check();
}

// Rows with ties, NaNs, infinities: every device gives the CPU's values and indices.
TEST_CASE_TEMPLATE("max / min indices on every device: the first tie wins, the first NaN wins", T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (Device dev : available_devices()) {
    if (dev == Device::CPU) continue;
    for (int64_t len : {1, 7, 300}) {
      // row 0: ties of max and min; row 1: NaNs after the extremes; row 2: all equal; row 3: infinities
      std::vector<T> v(size_t(4 * len));
      for (int64_t i = 0; i < len; ++i) {
        v[size_t(i)] = T((i * 7) % 5);
        v[size_t(len + i)] = T(i % 3) - T(1);
        v[size_t(2 * len + i)] = T(2);
        v[size_t(3 * len + i)] = i % 4 == 1 ? inf : i % 4 == 2 ? -inf : T(0);
      }
      if (len > 1) v[size_t(len + len / 2)] = nan, v[size_t(2 * len - 1)] = nan;
      auto t = tensor<T>(v, {4, len});
      for (bool want_max : {true, false}) {
        IndexTensor ic, id;
        auto mc = want_max ? max(t, 1, false, &ic) : min(t, 1, false, &ic);
        auto md = (want_max ? max(t.to(dev), 1, false, &id) : min(t.to(dev), 1, false, &id)).cpu();
        CAPTURE(len);
        CAPTURE(want_max);
        CHECK(id.values == ic.values);
        for (int64_t r = 0; r < 4; ++r) {
          const T a = md.data()[r], b = mc.data()[r];
          CHECK(((std::isnan(a) && std::isnan(b)) || a == b));
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("sum_of_squares on every device matches the CPU's", T, float, double) {
  Generator g(3);
  auto x = randn<T>({40000}, 0, 1, g);
  const double want = kernels::sum_of_squares<T>({Device::CPU, x.numel(), x.data_ptr()});
  for (Device dev : available_devices()) {
    if (dev == Device::CPU) continue;
    auto xd = x.to(dev);
    CHECK(kernels::sum_of_squares<T>({dev, xd.numel(), xd.data_ptr()}) == doctest::Approx(want).epsilon(1e-12));
    CHECK(kernels::sum_of_squares<T>({dev, 0, xd.data_ptr()}) == 0.0);
  }
}

// Pooling, resizing and Gaussian blur: PyTorch / scipy fixtures (float and double, contiguous
// and not); through the op harness float against double and gradient checks; properties on
// the model's sizes, argument errors.
#include "conv_fixture.hpp"
#include "op_harness.hpp"

using namespace onenip;
using testing::check_case_all;
using testing::check_close;
using testing::check_values;
using testing::Op;
using testing::OpFn;

namespace {

// One fixture case: its name and the op applied to its single input.
template <typename MakeOp>
void check_unary_case(const std::string& name, MakeOp make_op) {
  check_case_all(name, {"x"}, [make_op](auto tag) {
    using T = decltype(tag);
    return OpFn<T>([make_op](const std::vector<Tensor<T>>& in) { return make_op(in[0]); });
  });
}

}  // namespace

TEST_CASE("avg_pool2d, max_pool2d, global_avg_pool2d match PyTorch") {
  check_unary_case("avg_k3s2p1_incl", [](auto x) { return avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true); });
  check_unary_case("avg_k3s2p1_excl", [](auto x) { return avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, false); });
  check_unary_case("avg_k16s1", [](auto x) { return avg_pool2d(x, {16, 16}, {1, 1}); });
  check_unary_case("avg_k23s21", [](auto x) { return avg_pool2d(x, {2, 3}, {2, 1}); });
  check_unary_case("max_k3s2p1", [](auto x) { return max_pool2d(x, {3, 3}, {2, 2}, {1, 1}); });
  check_unary_case("max_k2s2", [](auto x) { return max_pool2d(x, {2, 2}, {2, 2}); });
  check_unary_case("gap", [](auto x) { return global_avg_pool2d(x); });
}

TEST_CASE("resize_bilinear and resize_nearest match F.interpolate, up and down") {
  for (bool ac : {true, false}) {
    std::string tag = ac ? "ac" : "hp";
    check_unary_case("bilinear_" + tag + "_up", [ac](auto x) { return resize_bilinear(x, 9, 11, ac); });
    check_unary_case("bilinear_" + tag + "_down", [ac](auto x) { return resize_bilinear(x, 4, 5, ac); });
  }
  check_unary_case("nearest_up", [](auto x) { return resize_nearest(x, 9, 11); });
  check_unary_case("nearest_up2", [](auto x) { return resize_nearest(x, 10, 8); });
  check_unary_case("nearest_down", [](auto x) { return resize_nearest(x, 4, 5); });
}

TEST_CASE("gaussian_blur2d matches scipy.ndimage.gaussian_filter (mode reflect, truncate 4)") {
  check_unary_case("blur_s1", [](auto x) { return gaussian_blur2d(x, 1.0); });
  check_unary_case("blur_s1p3", [](auto x) { return gaussian_blur2d(x, 1.3); });          // radius 5, not 6
  check_unary_case("blur_s2_small", [](auto x) { return gaussian_blur2d(x, 2.0); });      // kernel 17 > 5x7 image
}

using testing::In;

namespace {
// Every op on [2, 2, 7, 6], contiguous and as an NHWC buffer viewed as NCHW.
template <typename F>
void pool_op(const std::string& name, F f) {
  Op(name, f).in({2, 2, 7, 6}).seed(11).check();
  Op(name + ", channels-last input", f).in({2, 2, 7, 6}, testing::normal(), testing::transposed(1, 3)).seed(11).check();
}
}  // namespace

TEST_CASE("pooling through the op harness: strided input, float, gradients") {
  pool_op("avg_pool2d 3x2 s2x1 p1 incl", []<class T>(const In<T>& x) { return avg_pool2d(x[0], {3, 2}, {2, 1}, {1, 1}, true); });
  pool_op("avg_pool2d 3x3 s2 p1 excl", []<class T>(const In<T>& x) { return avg_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}, false); });
  pool_op("avg_pool2d 5x5 s1", []<class T>(const In<T>& x) { return avg_pool2d(x[0], {5, 5}, {1, 1}); });
  pool_op("max_pool2d 3x3 s2 p1", []<class T>(const In<T>& x) { return max_pool2d(x[0], {3, 3}, {2, 2}, {1, 1}); });
  pool_op("max_pool2d 2x3 s1x2", []<class T>(const In<T>& x) { return max_pool2d(x[0], {2, 3}, {1, 2}); });
  pool_op("global_avg_pool2d", []<class T>(const In<T>& x) { return global_avg_pool2d(x[0]); });
}

TEST_CASE("resize and blur through the op harness: strided input, float, gradients") {
  for (bool ac : {true, false}) {
    std::string tag = ac ? " align_corners" : " half_pixel";
    pool_op("resize_bilinear up" + tag, [ac]<class T>(const In<T>& x) { return resize_bilinear(x[0], 11, 9, ac); });
    pool_op("resize_bilinear down" + tag, [ac]<class T>(const In<T>& x) { return resize_bilinear(x[0], 3, 4, ac); });
  }
  pool_op("resize_nearest up", []<class T>(const In<T>& x) { return resize_nearest(x[0], 11, 9); });
  pool_op("resize_nearest down", []<class T>(const In<T>& x) { return resize_nearest(x[0], 3, 4); });
  pool_op("gaussian_blur2d 1.2", []<class T>(const In<T>& x) { return gaussian_blur2d(x[0], 1.2); });
  pool_op("gaussian_blur2d 3.0", []<class T>(const In<T>& x) { return gaussian_blur2d(x[0], 3.0); });  // reflects more than once
  // avg_pool2d is the window mean: a composite of narrow and sum
  Op("avg_pool2d 3x3 s1 vs window sums", []<class T>(const In<T>& x) { return avg_pool2d(x[0], {3, 3}, {1, 1}); })
      .in({1, 2, 6, 5})
      .ref([](const In<double>& x) {
        TensorD acc;
        for (int64_t a = 0; a < 3; ++a)
          for (int64_t b = 0; b < 3; ++b) {
            TensorD w = x[0].narrow(2, a, 4).narrow(3, b, 3);
            acc = acc.defined() ? acc + w : w;
          }
        return acc / 9.0;
      }, true)
      .check();
}

TEST_CASE("avg_pool2d 16x16 stride 1 equals the window mean on a larger map") {
  Generator gen(12);
  auto x = randn<float>({2, 1, 40, 37}, 0.f, 1.f, gen);
  auto y = avg_pool2d(x, {16, 16}, {1, 1});
  REQUIRE(y.shape() == Shape{2, 1, 25, 22});
  auto ref = zeros<float>({2, 1, 25, 22});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t i = 0; i < 25; ++i)
      for (int64_t j = 0; j < 22; ++j) {
        double s = 0;
        for (int64_t a = 0; a < 16; ++a)
          for (int64_t b = 0; b < 16; ++b) s += x.at({n, 0, i + a, j + b});
        ref.at_ref({n, 0, i, j}) = float(s / 256);
      }
  check_close(y, ref, 1e-6);
}

TEST_CASE("max_pool2d: ties go to the first maximum, NaN propagates") {
  auto x = tensor<double>({1, 1, 0, 1, 1, 1, 0, 1, 5, 5, 5, 5, 0, 0, 0, 0}, {1, 1, 4, 4}).set_requires_grad();
  auto y = max_pool2d(x, {2, 2}, {2, 2});
  check_values(y, {1, 1, 5, 5});
  sum(y).backward();
  // window order is row-major: the first 1 of each top window, the first 5 of each bottom window
  check_values(x.grad(), {1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0});
  auto z = tensor<double>({1, std::nan(""), 2, 3}, {1, 1, 2, 2});
  CHECK(std::isnan(max_pool2d(z, {2, 2}, {1, 1}).item()));
}

TEST_CASE("resize on the model's sizes: exact at corners, linear ramps stay linear") {
  // feature maps 112/56/28 -> 14 and score maps 14/56 -> 224, align_corners=True
  Generator gen(13);
  for (int64_t in : {112, 56, 28}) {
    auto x = randn<float>({2, 3, in, in}, 0.f, 1.f, gen);
    auto y = resize_bilinear(x, 14, 14, true);
    REQUIRE(y.shape() == Shape{2, 3, 14, 14});
    CHECK(y.at({1, 2, 0, 0}) == x.at({1, 2, 0, 0}));
    CHECK(y.at({1, 2, 13, 13}) == doctest::Approx(x.at({1, 2, in - 1, in - 1})).epsilon(1e-6));
  }
  for (int64_t in : {14, 56}) {
    // x[i, j] = 2i + 3j: bilinear with align_corners reproduces it at scaled coordinates
    auto x = Tensor<double>::empty({1, 1, in, in});
    for (int64_t i = 0; i < in; ++i)
      for (int64_t j = 0; j < in; ++j) x.at_ref({0, 0, i, j}) = 2.0 * i + 3.0 * j;
    auto y = resize_bilinear(x, 224, 224, true);
    double s = double(in - 1) / 223;
    for (int64_t i : {0, 17, 100, 223})
      for (int64_t j : {0, 5, 222, 223}) CHECK(y.at({0, 0, i, j}) == doctest::Approx(2 * s * i + 3 * s * j).epsilon(1e-12));
  }
  // same size without align_corners is the identity, both modes
  auto x = randn<double>({1, 2, 9, 7}, 0.0, 1.0, gen);
  check_close(resize_bilinear(x, 9, 7, false), x, 1e-15);
  check_close(resize_nearest(x, 9, 7), x, 0);
}

TEST_CASE("gaussian_blur2d keeps constant images constant") {
  auto c = full<double>({1, 2, 6, 9}, 3.5);
  check_close(gaussian_blur2d(c, 1.7), c, 1e-12);
  // reflect mode: a constant image stays constant, also with a kernel wider than the image
  auto t = full<float>({1, 1, 3, 2}, -2.f);
  check_close(gaussian_blur2d(t, 4.0), t, 1e-6);
}

TEST_CASE("pool, resize and blur argument errors show the shapes") {
  auto x = zeros<float>({1, 2, 5, 5});
  CHECK_THROWS_WITH_AS(avg_pool2d(zeros<float>({2, 5, 5}), {2, 2}, {2, 2}), doctest::Contains("got shape [2, 5, 5]"), Error);
  CHECK_THROWS_WITH_AS(avg_pool2d(x, {3, 3}, {1, 1}, {2, 2}), doctest::Contains("at most half the kernel"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {6, 2}, {1, 1}), doctest::Contains("larger than the padded input 5x5 (input [1, 2, 5, 5])"), Error);
  CHECK_THROWS_WITH_AS(max_pool2d(x, {2, 2}, {0, 1}), doctest::Contains("stride must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(global_avg_pool2d(zeros<float>({2, 5})), doctest::Contains("got shape [2, 5]"), Error);
  CHECK_THROWS_WITH_AS(resize_bilinear(x, 0, 3, true), doctest::Contains("output size must be positive, got 0x3 for input [1, 2, 5, 5]"), Error);
  CHECK_THROWS_WITH_AS(resize_nearest(zeros<float>({1, 2, 0, 5}), 3, 3), doctest::Contains("H, W > 0, got shape [1, 2, 0, 5]"), Error);
  CHECK_THROWS_WITH_AS(gaussian_blur2d(x, 0.0), doctest::Contains("sigma must be positive"), Error);
}

TEST_CASE("pooling and resize through the op harness: gaps between windows, wide padding, odd ratios") {
  pool_op("max_pool2d 2x2 s3 (gaps between windows)", []<class T>(const In<T>& x) { return max_pool2d(x[0], {2, 2}, {3, 3}); });
  pool_op("max_pool2d 5x4 s2 p2", []<class T>(const In<T>& x) { return max_pool2d(x[0], {5, 4}, {2, 2}, {2, 2}); });
  pool_op("max_pool2d 1x1 s2", []<class T>(const In<T>& x) { return max_pool2d(x[0], {1, 1}, {2, 2}); });
  for (bool ac : {true, false}) {
    std::string tag = ac ? " align_corners" : " half_pixel";
    pool_op("resize_bilinear 7x6 -> 16x4" + tag, [ac]<class T>(const In<T>& x) { return resize_bilinear(x[0], 16, 4, ac); });
    pool_op("resize_bilinear 7x6 -> 1x1" + tag, [ac]<class T>(const In<T>& x) { return resize_bilinear(x[0], 1, 1, ac); });
  }
}

TEST_CASE("max_pool2d with ties and NaN gives the CPU's values and gradients on every device") {
  Generator gen(21);
  // values in {0, 1, 2}: most windows hold ties; one NaN; window (1, 1) of plane (0, 1) all -inf
  TensorD x = map_unary(rand<double>({2, 3, 7, 6}, 0.0, 3.0, gen), [](double v) { return std::floor(v); });
  x.at_ref({1, 2, 3, 3}) = std::nan("");
  for (int64_t i = 1; i < 4; ++i)
    for (int64_t j = 1; j < 4; ++j) x.at_ref({0, 1, i, j}) = -std::numeric_limits<double>::infinity();
  const TensorD up = randn<double>({2, 3, 4, 3}, 0.0, 1.0, gen);
  auto run_on = [&](Device d) {
    TensorD xd = x.to(d).detach();
    xd.set_requires_grad(true);
    TensorD y = max_pool2d(xd, {3, 3}, {2, 2}, {1, 1});
    y.backward(up.to(d));
    return std::pair{y.detach().cpu(), xd.grad().cpu()};
  };
  const auto want = run_on(Device::CPU);
  // the all -inf window's gradient goes to its first tap, (1, 1), which no other window picks
  CHECK(want.second.at({0, 1, 1, 1}) == up.at({0, 1, 1, 1}));
  auto same = [](const TensorD& a, const TensorD& b) {
    REQUIRE(a.shape() == b.shape());
    for (int64_t i = 0; i < a.numel(); ++i) {
      const double u = a.data_ptr()[i], v = b.data_ptr()[i];
      CHECK(((u != u && v != v) || u == v));
    }
  };
  for (Device d : available_devices()) {
    INFO("device ", device_name(d));
    const auto got = run_on(d);
    same(got.first, want.first);
    same(got.second, want.second);
  }
}

// Elementwise ops: values by hand, then each op through the op harness (formulas, broadcast and
// strided operands, float against double, gradient checks).
#include "op_harness.hpp"

using namespace onenip;
using testing::away_from;
using testing::check_values;
using testing::Draw;
using testing::normal;
using testing::Op;
using testing::positive;
using testing::strided;
using testing::transposed;

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

TEST_CASE("binary ops: broadcasting, strided and broadcast operands, gradients summed back") {
  using testing::In;
  const auto add_ = []<class T>(const In<T>& x) { return x[0] + x[1]; };
  const auto sub_ = []<class T>(const In<T>& x) { return x[0] - x[1]; };
  const auto mul_ = []<class T>(const In<T>& x) { return x[0] * x[1]; };
  const auto div_ = []<class T>(const In<T>& x) { return x[0] / x[1]; };
  const auto max_ = []<class T>(const In<T>& x) { return maximum(x[0], x[1]); };
  const auto min_ = []<class T>(const In<T>& x) { return minimum(x[0], x[1]); };
  // formulas for the forward, elementwise over the broadcast
  const auto formula = [](auto f) {
    return [f](const In<double>& x) {
      Shape s = broadcast_shapes(x[0].shape(), x[1].shape());
      auto a = x[0].expand(s).contiguous(), b = x[1].expand(s).contiguous(), y = zeros<double>(s);
      for (int64_t i = 0; i < y.numel(); ++i) y.data()[i] = f(a.data()[i], b.data()[i]);
      return y;
    };
  };
  for (auto layout : {testing::Layout{}, testing::transposed(0, 1)}) {
    // [2,3,4] with [3,1], the second as given or stored transposed ([1,3] memory)
    Op("add", add_).in({2, 3, 4}).in({3, 1}, normal(), layout).ref(formula(std::plus<>())).check();
    Op("sub", sub_).in({2, 3, 4}).in({3, 1}, normal(), layout).ref(formula(std::minus<>())).check();
    Op("mul", mul_).in({2, 3, 4}).in({3, 1}, normal(), layout).ref(formula(std::multiplies<>())).check();
    Op("div", div_).in({2, 3, 4}).in({3, 1}, positive(0.5, 1.5), layout).ref(formula(std::divides<>())).check();
    Op("maximum", max_).in({2, 3, 4}).in({3, 1}, normal(), layout)
        .ref(formula([](double a, double b) { return std::max(a, b); })).check();
    Op("minimum", min_).in({2, 3, 4}).in({3, 1}, normal(), layout)
        .ref(formula([](double a, double b) { return std::min(a, b); })).check();
  }
  // a transposed and a strided operand of the same shape, and an expanded (stride 0) one
  Op("mul strided", mul_).in({4, 5}, normal(), transposed(0, 1)).in({4, 5}, normal(), strided(1, 2)).check();
  Op("add expanded", add_).in({4, 5}).in({4, 5}, normal(), testing::broadcast(0)).check();
  // the shapes of the gradients are the inputs' shapes
  auto a = randn<double>({2, 3, 4});
  auto x = randn<double>({3, 1}).set_requires_grad();
  sum(a * x).backward();
  CHECK(x.grad().shape() == Shape{3, 1});
  testing::check_close(x.grad(), sum(a, {0, 2}, true).reshape({3, 1}), 1e-12);
}

TEST_CASE("unary ops against their formulas, gradients") {
  using testing::In;
  // the op and its formula, elementwise
  auto unary = [](const std::string& name, auto op, double (*f)(double), Draw draw = normal()) {
    Op(name, op).in({3, 4}, draw).ref([f](const In<double>& x) { return map_unary(x[0], f); }).check();
    Op(name + " transposed", op).in({3, 4}, draw, transposed(0, 1)).check();
  };
  unary("neg", []<class T>(const In<T>& x) { return neg(x[0]); }, [](double v) { return -v; });
  unary("exp", []<class T>(const In<T>& x) { return exp(x[0]); }, [](double v) { return std::exp(v); });
  unary("log", []<class T>(const In<T>& x) { return log(x[0]); }, [](double v) { return std::log(v); }, positive());
  unary("sqrt", []<class T>(const In<T>& x) { return sqrt(x[0]); }, [](double v) { return std::sqrt(v); }, positive());
  unary("pow 2.5", []<class T>(const In<T>& x) { return pow(x[0], T(2.5)); }, [](double v) { return std::pow(v, 2.5); },
        positive());
  unary("square", []<class T>(const In<T>& x) { return square(x[0]); }, [](double v) { return v * v; });
  unary("abs", []<class T>(const In<T>& x) { return abs(x[0]); }, [](double v) { return std::abs(v); }, away_from({0}));
  unary("clamp", []<class T>(const In<T>& x) { return clamp(x[0], T(-0.5), T(0.5)); },
        [](double v) { return std::clamp(v, -0.5, 0.5); }, away_from({-0.5, 0.5}));
  unary("relu", []<class T>(const In<T>& x) { return relu(x[0]); }, [](double v) { return std::max(v, 0.0); },
        away_from({0}));
  unary("sigmoid", []<class T>(const In<T>& x) { return sigmoid(x[0]); }, [](double v) { return 1 / (1 + std::exp(-v)); });
  unary("tanh", []<class T>(const In<T>& x) { return tanh(x[0]); }, [](double v) { return std::tanh(v); });
  unary("affine", []<class T>(const In<T>& x) { return x[0] * T(3) + T(2); }, [](double v) { return 3 * v + 2; });
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

// Rows longer than 2^17 elements are cut into pieces that run on different threads (a
// contiguous tensor is one row): every element is written once, with its own operands, for rows
// of one piece and of several, contiguous or strided.
TEST_CASE("pointwise ops over long rows, in pieces on 2 threads") {
  const int saved = num_threads();
  set_num_threads(2);
  for (int64_t n : {int64_t(1) << 17, (int64_t(1) << 17) + 1, 3 * (int64_t(1) << 17) + 17}) {
    CAPTURE(n);
    auto a = arange<float>(0, float(2 * n)).reshape({2, n});
    auto b = arange<float>(0, float(n)) * 0.5f;
    auto sum = a + b;                           // one row of 2 n elements after coalescing
    auto strided_sum = a.transpose(0, 1) + 1.f;  // [n, 2]: rows of 2, strided
    auto wide = a.transpose(0, 1).contiguous().transpose(0, 1) * 2.f;  // rows of n, stride 2
    bool ok = true;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t j = 0; j < n; ++j) {
        const float x = float(r * n + j);
        ok &= sum.at({r, j}) == x + 0.5f * float(j);
        ok &= strided_sum.at({j, r}) == x + 1.f;
        ok &= wide.at({r, j}) == 2.f * x;
      }
    CHECK(ok);
  }
  set_num_threads(saved);
}

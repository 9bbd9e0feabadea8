// Activations, softmax / log_softmax, linear and dropout: PyTorch fixtures (float and double),
// gradient checks in double, the fused softmax against an elementwise composite, dropout's
// statistics and determinism, argument errors.
#include "nn_fixtures.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_close;
using testing::fx;
using testing::fx_tol;

namespace {

// y and x.grad of f(x) with upstream gradient w.
template <typename T, typename F>
std::pair<Tensor<T>, Tensor<T>> value_and_grad(F f, const Tensor<T>& x_in, const Tensor<T>& w) {
  Tensor<T> x = x_in.clone().set_requires_grad();
  Tensor<T> y = f(x);
  y.backward(w);
  return {y.detach(), x.grad()};
}

// softmax from elementwise ops and reductions: the reference for the fused kernel.
template <typename T>
Tensor<T> softmax_composite(const Tensor<T>& x, int64_t dim) {
  Tensor<T> e = exp(x - max(x, dim, true).detach());
  return e / sum(e, {dim}, true);
}

}  // namespace

TEST_CASE_TEMPLATE("activations match PyTorch, values and gradients", T, float, double) {
  auto x = fx<T>("act.x"), w = fx<T>("act.w");
  const double tol = fx_tol<T>();
  auto check = [&](const char* name, auto f) {
    INFO(name);
    auto [y, dx] = value_and_grad<T>(f, x, w);
    check_close(y, fx<T>(std::string("act.") + name + ".y"), tol, tol);
    check_close(dx, fx<T>(std::string("act.") + name + ".dx"), tol, tol);
  };
  check("relu6", [](const Tensor<T>& t) { return relu6(t); });
  check("gelu", [](const Tensor<T>& t) { return gelu(t); });
  check("gelu_tanh", [](const Tensor<T>& t) { return gelu_tanh(t); });
  check("silu", [](const Tensor<T>& t) { return silu(t); });
  check("leaky_relu", [](const Tensor<T>& t) { return leaky_relu(t, T(0.2)); });
  check("softplus", [](const Tensor<T>& t) { return softplus(t); });
  check("softplus_b2_t5", [](const Tensor<T>& t) { return softplus(t, T(2), T(5)); });
}

TEST_CASE("activation gradients (finite differences, away from kinks)") {
  auto x = randn<double>({3, 5}, 0.0, 2.0);
  // keep clear of relu6's kinks at 0 and 6
  auto away = map_unary(x, [](double v) { return std::abs(v) < 0.05 || std::abs(v - 6) < 0.05 ? v + 0.2 : v; });
  check_gradients([](auto& in) { return relu6(in[0] * 4.0); }, {away});
  check_gradients([](auto& in) { return gelu(in[0]); }, {x});
  check_gradients([](auto& in) { return gelu_tanh(in[0]); }, {x});
  check_gradients([](auto& in) { return silu(in[0]); }, {x});
  check_gradients([](auto& in) { return leaky_relu(in[0], 0.1); }, {away});
  check_gradients([](auto& in) { return softplus(in[0]); }, {x});
  check_gradients([](auto& in) { return softplus(in[0], 3.0, 2.0); }, {away});
}

TEST_CASE_TEMPLATE("softmax and log_softmax over a middle dim match PyTorch", T, float, double) {
  auto x = fx<T>("softmax.x"), w = fx<T>("softmax.w");  // [2, 5, 3] with one -inf
  const double tol = fx_tol<T>();
  auto [y, dx] = value_and_grad<T>([](const Tensor<T>& t) { return softmax(t, 1); }, x, w);
  check_close(y, fx<T>("softmax.softmax.y"), tol, tol);
  check_close(dx, fx<T>("softmax.softmax.dx"), tol, tol);
  auto [ly, ldx] = value_and_grad<T>([](const Tensor<T>& t) { return log_softmax(t, -2); }, x, w);
  check_close(ly, fx<T>("softmax.log_softmax.y"), tol, tol);
  check_close(ldx, fx<T>("softmax.log_softmax.dx"), tol, tol);
}

TEST_CASE_TEMPLATE("fused softmax equals the elementwise composite, forward and backward", T, float, double) {
  Generator g(3);
  const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
  for (int64_t dim : {0, 1, 2}) {
    INFO("dim ", dim);
    auto x = randn<T>({4, 9, 7}, T(0), T(3), g), w = randn<T>({4, 9, 7}, T(0), T(1), g);
    auto [y, dx] = value_and_grad<T>([dim](const Tensor<T>& t) { return softmax(t, dim); }, x, w);
    auto [yr, dxr] = value_and_grad<T>([dim](const Tensor<T>& t) { return softmax_composite(t, dim); }, x, w);
    check_close(y, yr, tol, tol);
    check_close(dx, dxr, tol, tol);
    auto [ly, ldx] = value_and_grad<T>([dim](const Tensor<T>& t) { return log_softmax(t, dim); }, x, w);
    auto [lyr, ldxr] = value_and_grad<T>([dim](const Tensor<T>& t) { return log(softmax_composite(t, dim)); }, x, w);
    check_close(ly, lyr, 10 * tol, 10 * tol);
    check_close(ldx, ldxr, 10 * tol, 10 * tol);
  }
  // attention-score shape [B*H*T, T], and a non-contiguous input
  auto s = randn<T>({40, 33}, T(0), T(2), g);
  check_close(softmax(s, -1), softmax_composite(s, -1), tol, tol);
  check_close(softmax(s.transpose(0, 1), 1), softmax_composite(s.transpose(0, 1).contiguous(), 1), tol, tol);
}

TEST_CASE("softmax gradients (finite differences)") {
  auto x = randn<double>({3, 4, 5});
  for (int64_t dim : {0, 1, 2}) {
    check_gradients([dim](auto& in) { return softmax(in[0], dim); }, {x});
    check_gradients([dim](auto& in) { return log_softmax(in[0], dim); }, {x});
  }
}

TEST_CASE("softmax of a row that is all -inf is 0 with zero gradient, log_softmax gives -inf") {
  const double inf = std::numeric_limits<double>::infinity();
  auto x = tensor<double>({1, 2, -inf, -inf, -inf, -inf}, {2, 3}).set_requires_grad();
  auto y = softmax(x, 1);
  double e = std::exp(1.0) + std::exp(2.0);
  testing::check_values(y, {std::exp(1.0) / e, std::exp(2.0) / e, 0, 0, 0, 0}, 1e-12);
  y.backward(tensor<double>({1, -2, 3, 4, 5, 6}, {2, 3}));
  auto gx = x.grad();
  CHECK(gx.at({1, 0}) == 0.0);
  CHECK(gx.at({1, 2}) == 0.0);
  CHECK(gx.at({0, 2}) == 0.0);
  CHECK(std::isfinite(gx.at({0, 0})));
  auto ly = log_softmax(x.detach(), 1);
  CHECK(ly.at({1, 1}) == -inf);
  CHECK(ly.at({0, 2}) == -inf);
}

TEST_CASE_TEMPLATE("linear with 3-D input matches PyTorch", T, float, double) {
  auto x = fx<T>("linear.x"), W = fx<T>("linear.weight"), b = fx<T>("linear.bias"), w = fx<T>("linear.w");
  const double tol = fx_tol<T>();
  auto xl = x.clone().set_requires_grad(), Wl = W.clone().set_requires_grad(), bl = b.clone().set_requires_grad();
  auto y = linear(xl, Wl, bl);
  CHECK(y.shape() == Shape{2, 3, 4});
  y.backward(w);
  check_close(y.detach(), fx<T>("linear.y"), tol, tol);
  check_close(xl.grad(), fx<T>("linear.dx"), tol, tol);
  check_close(Wl.grad(), fx<T>("linear.dweight"), tol, tol);
  check_close(bl.grad(), fx<T>("linear.dbias"), tol, tol);
  check_close(linear(x, W, Tensor<T>()), fx<T>("linear.y_nobias"), tol, tol);
  // non-contiguous input and weight give the same result
  auto xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  CHECK(!xt.is_contiguous());
  check_close(linear(xt, W.transpose(0, 1).contiguous().transpose(0, 1), b), fx<T>("linear.y"), tol, tol);
}

TEST_CASE("linear gradients (finite differences), layouts, errors") {
  Generator g(5);
  auto x = randn<double>({2, 3, 4}, 0, 1, g), W = randn<double>({5, 4}, 0, 1, g), b = randn<double>({5}, 0, 1, g);
  check_gradients([](auto& in) { return linear(in[0], in[1], in[2]); }, {x, W, b});
  check_gradients([](auto& in) { return linear(in[0], in[1], TensorD()); }, {x, W});
  check_gradients([](auto& in) { return linear(in[0].transpose(0, 1), in[1], in[2]); }, {x, W, b});  // 3-D strided
  check_gradients([](auto& in) { return linear(in[0].transpose(0, 1), in[1], in[2]); },
                  {randn<double>({4, 6}, 0, 1, g), W, b});                                  // 2-D column-major
  check_gradients([](auto& in) { return linear(in[0], in[1], in[2]); }, {randn<double>({4}, 0, 1, g), W, b});  // 1-D
  // the contiguous input is read in place (one GEMM over the [-1, in] view)
  testing::check_close(linear(x, W, b), matmul(x, W.transpose(0, 1)) + b, 1e-12);
  CHECK_THROWS_WITH_AS(linear(x, randn<double>({5, 3}), b), doctest::Contains("[2, 3, 4]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, W, randn<double>({4})), doctest::Contains("bias [4]"), Error);
  CHECK_THROWS_WITH_AS(linear(x, randn<double>({5, 4, 1}), b), doctest::Contains("weight"), Error);
}

TEST_CASE("dropout decides element i from 16 bits of Philox block (first counter + i / 8)") {
  Generator g(0x1234567890abcdefULL), ref(0x1234567890abcdefULL);
  g.reserve(5), ref.reserve(5);  // not starting at counter 0
  const double p = 0.37;
  auto x = ones<double>({3, 31});
  auto y = dropout(x, p, true, g);
  const uint32_t threshold = uint32_t(std::llround(p * 65536));
  const double scale = 65536.0 / (65536.0 - threshold);
  uint64_t base = ref.reserve(uint64_t((x.numel() + 7) / 8));
  CHECK(g.offset() == ref.offset());
  for (int64_t i = 0; i < x.numel(); ++i) {
    uint32_t word = ref.block(base + uint64_t(i / 8))[size_t((i % 8) / 2)];
    uint32_t bits = i % 2 == 0 ? (word & 0xffffu) : (word >> 16);
    CHECK(y.data()[i] == (bits >= threshold ? scale : 0.0));
  }
}

TEST_CASE_TEMPLATE("dropout: statistics, scaling, gradient, identity when off", T, float, double) {
  Generator g(11);
  auto x = ones<T>({200, 500});
  const double p = 0.3;
  auto xr = x.clone().set_requires_grad();
  auto y = dropout(xr, p, true, g);
  int64_t kept = 0;
  const T scale = T(1 / (1 - p));  // p is rounded to a multiple of 2^-16: scale to ~1e-5
  for (int64_t i = 0; i < y.numel(); ++i) {
    T v = y.data()[i];
    CHECK_MESSAGE((v == T(0) || std::abs(v - scale) < 1e-4), "value ", v);
    kept += v != T(0);
  }
  double frac = double(kept) / double(y.numel());
  CHECK(std::abs(frac - (1 - p)) < 0.005);  // 100k draws: sd ~ 0.0015
  CHECK(g.offset() == uint64_t((y.numel() + 7) / 8));
  // backward applies the same mask and scale
  y.backward(full<T>(y.shape(), T(2)));
  check_close(xr.grad(), map_unary(y.detach(), [](T v) { return T(2) * v; }), 1e-6, 1e-6);
  // off: the input itself
  CHECK(dropout(x, p, false, g).same_storage(x));
  CHECK(dropout(x, 0.0, true, g).same_storage(x));
  auto z = dropout(x, 1.0, true, g);
  CHECK(sum(z).item() == T(0));
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, true, g), doctest::Contains("1.5"), Error);
}

TEST_CASE("dropout: same generator state, same mask, whatever the thread count and layout") {
  auto x = randn<float>({64, 300});
  int saved = num_threads();
  std::vector<TensorF> results;
  for (int threads : {1, 2, 4}) {
    set_num_threads(threads);
    Generator g(99);
    results.push_back(dropout(x, 0.25, true, g));
  }
  set_num_threads(saved);
  for (auto& r : results) testing::check_close(r, results[0], 0.0, 0.0);
  Generator g1(99), g2(99);
  // the decision of element i follows the logical (row-major) order, not the memory layout
  auto xt = x.transpose(0, 1).contiguous().transpose(0, 1);
  testing::check_close(dropout(xt, 0.25, true, g1), results[0], 0.0, 0.0);
  // a different generator state gives a different mask
  g2.reserve(1);
  auto other = dropout(x, 0.25, true, g2);
  int64_t differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) differ += other.data()[i] != results[0].data()[i];
  CHECK(differ > x.numel() / 10);
}

TEST_CASE("dropout gradient (finite differences with a fixed mask)") {
  auto x = randn<double>({4, 6});
  check_gradients([](auto& in) {
    Generator g(7);  // the same mask in every evaluation
    return dropout(in[0], 0.4, true, g);
  }, {x});
}

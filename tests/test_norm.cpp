// layer_norm and batch_norm: PyTorch fixtures (float and double, running statistics included),
// gradient checks in double, the fused layer_norm against an elementwise composite, the
// running-stat rules (training forward only), determinism, argument errors.
#include "nn_fixtures.hpp"

using namespace onenip;
using testing::check_gradients;
using testing::check_close;
using testing::fx;
using testing::fx_tol;

namespace {

template <typename T>
Tensor<T> layer_norm_composite(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, double eps) {
  Tensor<T> xc = x - mean(x, {-1}, true);
  Tensor<T> y = xc / sqrt(mean(square(xc), {-1}, true) + T(eps));
  if (w.defined()) y = y * w;
  if (b.defined()) y = y + b;
  return y;
}

// Output and the gradients of x, weight, bias for upstream gradient w.
template <typename T, typename F>
std::vector<Tensor<T>> run(F f, const Tensor<T>& x, const Tensor<T>& weight, const Tensor<T>& bias, const Tensor<T>& w) {
  auto xl = x.clone().set_requires_grad(), wl = weight.clone().set_requires_grad(), bl = bias.clone().set_requires_grad();
  auto y = f(xl, wl, bl);
  y.backward(w);
  return {y.detach(), xl.grad(), wl.grad(), bl.grad()};
}

}  // namespace

TEST_CASE_TEMPLATE("layer_norm matches PyTorch", T, float, double) {
  auto r = run<T>([](auto& x, auto& w, auto& b) { return layer_norm(x, w, b, 1e-5); }, fx<T>("layer_norm.x"),
                  fx<T>("layer_norm.weight"), fx<T>("layer_norm.bias"), fx<T>("layer_norm.w"));
  const double tol = fx_tol<T>();
  check_close(r[0], fx<T>("layer_norm.y"), tol, tol);
  check_close(r[1], fx<T>("layer_norm.dx"), tol, tol);
  check_close(r[2], fx<T>("layer_norm.dweight"), tol, tol);
  check_close(r[3], fx<T>("layer_norm.dbias"), tol, tol);
}

TEST_CASE_TEMPLATE("fused layer_norm equals the elementwise composite", T, float, double) {
  Generator g(8);
  auto x = randn<T>({6, 5, 32}, T(1), T(3), g), w = randn<T>({32}, T(0), T(1), g), b = randn<T>({32}, T(0), T(1), g);
  auto up = randn<T>({6, 5, 32}, T(0), T(1), g);
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  auto fused = run<T>([](auto& a, auto& c, auto& d) { return layer_norm(a, c, d, 1e-5); }, x, w, b, up);
  auto comp = run<T>([](auto& a, auto& c, auto& d) { return layer_norm_composite(a, c, d, 1e-5); }, x, w, b, up);
  for (size_t i = 0; i < 4; ++i) check_close(fused[i], comp[i], tol, tol);
  // without affine parameters, on a non-contiguous input
  auto xt = x.transpose(0, 1);
  check_close(layer_norm(xt, Tensor<T>(), Tensor<T>()), layer_norm_composite(xt, Tensor<T>(), Tensor<T>(), 1e-5), tol,
               tol);
}

TEST_CASE("layer_norm gradients (finite differences)") {
  Generator g(9);
  auto x = randn<double>({3, 4, 6}, 0, 2, g), w = randn<double>({6}, 0, 1, g), b = randn<double>({6}, 0, 1, g);
  check_gradients([](auto& in) { return layer_norm(in[0], in[1], in[2]); }, {x, w, b});
  check_gradients([](auto& in) { return layer_norm(in[0], in[1], TensorD()); }, {x, w});
  check_gradients([](auto& in) { return layer_norm(in[0], TensorD(), TensorD(), 0.1); }, {x});
  // many rows (several reduction blocks) in random-direction mode
  GradCheckOptions o;
  o.directions = 6;
  check_gradients([](auto& in) { return layer_norm(in[0], in[1], in[2]); },
                  {randn<double>({150, 8}, 0, 1, g), randn<double>({8}, 0, 1, g), randn<double>({8}, 0, 1, g)}, o);
}

TEST_CASE("layer_norm parameter gradients do not depend on the thread count") {
  Generator g(10);
  auto x = randn<float>({700, 48}, 0, 1, g), w = randn<float>({48}, 0, 1, g), b = randn<float>({48}, 0, 1, g);
  auto up = randn<float>({700, 48}, 0, 1, g);
  int saved = num_threads();
  std::vector<std::vector<TensorF>> res;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    res.push_back(run<float>([](auto& a, auto& c, auto& d) { return layer_norm(a, c, d); }, x, w, b, up));
  }
  set_num_threads(saved);
  for (auto& r : res)
    for (size_t i = 0; i < 4; ++i) testing::check_close(r[i], res[0][i], 0.0, 0.0);
}

TEST_CASE_TEMPLATE("batch_norm matches PyTorch in training (running stats too) and eval", T, float, double) {
  auto x = fx<T>("batch_norm.x"), w = fx<T>("batch_norm.weight"), b = fx<T>("batch_norm.bias");
  auto up = fx<T>("batch_norm.w");
  const double tol = fx_tol<T>();
  auto rm = fx<T>("batch_norm.running_mean"), rv = fx<T>("batch_norm.running_var");
  uint64_t v0 = rm.version();
  auto tr = run<T>([&](auto& a, auto& c, auto& d) { return batch_norm(a, rm, rv, c, d, true, 0.1, 1e-5); }, x, w, b, up);
  check_close(tr[0], fx<T>("batch_norm.train.y"), tol, tol);
  check_close(tr[1], fx<T>("batch_norm.train.dx"), tol, tol);
  check_close(tr[2], fx<T>("batch_norm.train.dweight"), tol, tol);
  check_close(tr[3], fx<T>("batch_norm.train.dbias"), tol, tol);
  // updated once, by the forward (backward ran above and must not have touched them)
  check_close(rm, fx<T>("batch_norm.train.running_mean"), tol, tol);
  check_close(rv, fx<T>("batch_norm.train.running_var"), tol, tol);
  CHECK(rm.version() > v0);

  auto rm0 = fx<T>("batch_norm.running_mean"), rv0 = fx<T>("batch_norm.running_var");
  auto ev = run<T>([&](auto& a, auto& c, auto& d) { return batch_norm(a, rm0, rv0, c, d, false); }, x, w, b, up);
  check_close(ev[0], fx<T>("batch_norm.eval.y"), tol, tol);
  check_close(ev[1], fx<T>("batch_norm.eval.dx"), tol, tol);
  check_close(ev[2], fx<T>("batch_norm.eval.dweight"), tol, tol);
  check_close(ev[3], fx<T>("batch_norm.eval.dbias"), tol, tol);
  check_close(rm0, fx<T>("batch_norm.running_mean"), 0, 0);  // eval leaves them alone
  check_close(rv0, fx<T>("batch_norm.running_var"), 0, 0);

  // [N, C] input, no affine parameters
  auto rm2 = zeros<T>({3}), rv2 = ones<T>({3});
  check_close(batch_norm(fx<T>("batch_norm.nc.x"), rm2, rv2, Tensor<T>(), Tensor<T>(), true),
               fx<T>("batch_norm.nc.y"), tol, tol);
  check_close(rm2, fx<T>("batch_norm.nc.running_mean"), tol, tol);
  check_close(rv2, fx<T>("batch_norm.nc.running_var"), tol, tol);
}

TEST_CASE("batch_norm gradients (finite differences), train and eval") {
  Generator g(12);
  auto x = randn<double>({3, 2, 2, 3}, 0.5, 2, g), w = randn<double>({2}, 0, 1, g), b = randn<double>({2}, 0, 1, g);
  auto rm = randn<double>({2}, 0, 0.1, g), rv = add(rand<double>({2}, 0, 1, g), 0.5);
  check_gradients([](auto& in) { return batch_norm(in[0], TensorD(), TensorD(), in[1], in[2], true); }, {x, w, b});
  check_gradients([&](auto& in) { return batch_norm(in[0], rm.clone(), rv.clone(), in[1], in[2], true); }, {x, w, b});
  check_gradients([&](auto& in) { return batch_norm(in[0], rm, rv, in[1], in[2], false); }, {x, w, b});
  check_gradients([](auto& in) { return batch_norm(in[0], TensorD(), TensorD(), TensorD(), TensorD(), true); },
                  {randn<double>({5, 3}, 0, 1, g)});
}

TEST_CASE("batch_norm: running stats untouched by backward, argument errors") {
  Generator g(13);
  auto x = randn<float>({4, 3, 5}, 0, 1, g).set_requires_grad();
  auto rm = zeros<float>({3}), rv = ones<float>({3});
  auto y = batch_norm(x, rm, rv, TensorF(), TensorF(), true, 0.5);
  auto rm_after = rm.clone(), rv_after = rv.clone();
  sum(y * y).backward();
  testing::check_close(rm, rm_after, 0.0, 0.0);
  testing::check_close(rv, rv_after, 0.0, 0.0);
  // momentum 0.5 from (0, 1): running = 0.5 * batch statistic (+ 0.5 for the variance)
  auto xd = x.detach();
  auto m = mean(xd, {0, 2});
  testing::check_close(rm, m * 0.5f, 1e-6);
  auto var_unbiased = sum(square(xd - m.reshape({1, 3, 1})), {0, 2}) / 19.0f;
  testing::check_close(rv, var_unbiased * 0.5f + 0.5f, 1e-5);

  CHECK_THROWS_WITH_AS(batch_norm(x, rm, rv, ones<float>({4}), TensorF(), true), doctest::Contains("weight must have shape [3]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, TensorF(), TensorF(), TensorF(), TensorF(), false), doctest::Contains("eval mode"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(randn<float>({1, 3}), rm, rv, TensorF(), TensorF(), true),
                       doctest::Contains("more than one value"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(randn<float>({4}), rm, rv, TensorF(), TensorF(), true), doctest::Contains("[4]"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, ones<float>({3}), TensorF()), doctest::Contains("[4, 3, 5]"), Error);
}

// layer_norm, rms_norm and batch_norm: PyTorch fixtures (float and double, running statistics
// included); through the op harness the fused norms against elementwise composites and gradient
// checks; the running-stat rules (training forward only), determinism, argument errors.
#include "nn_fixtures.hpp"
#include "op_harness.hpp"

using namespace onenip;
using testing::check_close;
using testing::In;
using testing::none;
using testing::normal;
using testing::Op;
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

namespace {
const auto ln = []<class T>(const In<T>& x) { return layer_norm(x[0], x[1], x[2], 1e-5); };
}  // namespace

TEST_CASE("layer_norm through the op harness: the composite's values and gradients") {
  const auto composite = [](const In<double>& x) { return layer_norm_composite(x[0], x[1], x[2], 1e-5); };
  Op("layer_norm vs composite", ln).in({6, 5, 32}, normal(1, 3)).in({32}).in({32}).ref(composite, true)
      .ftol(2e-5, 2e-5).directions(8).check();
  // without affine parameters, on a non-contiguous input
  Op("layer_norm no affine, transposed", []<class T>(const In<T>& x) { return layer_norm(x[0], none(x), none(x)); })
      .in({6, 5, 32}, normal(1, 3), testing::transposed(0, 1))
      .ref([](const In<double>& x) { return layer_norm_composite(x[0], TensorD(), TensorD(), 1e-5); }, true)
      .ftol(2e-5, 2e-5).directions(8).check();
}

TEST_CASE("layer_norm through the op harness: finite differences, with and without affine parameters") {
  Op("layer_norm", ln).in({3, 4, 6}, normal(0, 2)).in({6}).in({6}).check();
  Op("layer_norm no bias", []<class T>(const In<T>& x) { return layer_norm(x[0], x[1], none(x)); })
      .in({3, 4, 6}, normal(0, 2)).in({6}).check();
  Op("layer_norm eps 0.1, no affine", []<class T>(const In<T>& x) { return layer_norm(x[0], none(x), none(x), 0.1); })
      .in({3, 4, 6}, normal(0, 2)).check();
  // many rows (several reduction blocks) in random-direction mode
  Op("layer_norm 150 rows", ln).in({150, 8}).in({8}).in({8}).directions(6).check();
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

TEST_CASE("rms_norm through the op harness: the composite's values and gradients, finite differences") {
  const auto rms = []<class T>(const In<T>& x) { return rms_norm(x[0], x[1], 1e-6); };
  const auto composite = [](const In<double>& x) {
    return x[0] * pow(mean(square(x[0]), {-1}, true) + 1e-6, -0.5) * x[1];
  };
  Op("rms_norm vs composite", rms).in({6, 5, 32}, normal(1, 3)).in({32}).ref(composite, true)
      .ftol(2e-5, 2e-5).directions(8).check();
  Op("rms_norm", rms).in({3, 4, 6}, normal(0, 2)).in({6}).check();
  Op("rms_norm no weight, eps 0.1, strided rows", []<class T>(const In<T>& x) { return rms_norm(x[0], none(x), 0.1); })
      .in({4, 6}, normal(0, 2), testing::strided(0, 2)).check();
  // many rows (several reduction blocks) in random-direction mode
  Op("rms_norm 150 rows", rms).in({150, 8}).in({8}).directions(6).check();
}

TEST_CASE("rms_norm: the weight gradient does not depend on the thread count, argument errors") {
  Generator g(11);
  auto x = randn<float>({700, 48}, 0, 1, g), w = randn<float>({48}, 0, 1, g), up = randn<float>({700, 48}, 0, 1, g);
  int saved = num_threads();
  std::vector<TensorF> grads;
  for (int t : {1, 2, 3}) {
    set_num_threads(t);
    auto wl = w.clone().set_requires_grad();
    rms_norm(x, wl).backward(up);
    grads.push_back(wl.grad());
  }
  set_num_threads(saved);
  for (auto& gw : grads) check_close(gw, grads[0], 0.0, 0.0);
  CHECK_THROWS_WITH_AS(rms_norm(x, randn<float>({47})), doctest::Contains("rms_norm: weight must have shape [48]"),
                       Error);
  CHECK_THROWS_WITH_AS(rms_norm(x, w, -1.0), doctest::Contains("rms_norm: eps must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(scalar_tensor(1.0f), TensorF()), doctest::Contains("at least one dim"), Error);
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

TEST_CASE("batch_norm through the op harness, train and eval") {
  // inputs: x, weight, bias, then the running statistics (not differentiated)
  const auto train = []<class T>(const In<T>& x) { return batch_norm(x[0], none(x), none(x), x[1], x[2], true); };
  const auto train_stats = []<class T>(const In<T>& x) {
    return batch_norm(x[0], x[3].clone(), x[4].clone(), x[1], x[2], true);
  };
  const auto eval = []<class T>(const In<T>& x) { return batch_norm(x[0], x[3], x[4], x[1], x[2], false); };
  auto op = [](const std::string& name, auto f) {
    Op(name, f).in({3, 2, 2, 3}, normal(0.5, 2)).in({2}).in({2}).constant({2}, normal(0, 0.1))
        .constant({2}, testing::uniform(0.5, 1.5)).check();
  };
  op("batch_norm train", train);
  op("batch_norm train, running stats", train_stats);
  op("batch_norm eval", eval);
  Op("batch_norm [N, C] no affine", []<class T>(const In<T>& x) {
    return batch_norm(x[0], none(x), none(x), none(x), none(x), true);
  }).in({5, 3}).check();
  Op("batch_norm channels strided", train).in({3, 2, 2, 3}, normal(0.5, 2), testing::strided(1, 2)).in({2}).in({2}).check();
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

// Shapes that take the device kernels' other paths: a block per row (C > 1024), C = 1, and
// enough rows for several parameter-gradient parts (32 rows each).
TEST_CASE("layer_norm and rms_norm through the op harness: long rows, C = 1, many rows") {
  const auto rms = []<class T>(const In<T>& x) { return rms_norm(x[0], x[1], 1e-6); };
  Op("layer_norm rows of 3000", ln).in({2, 3000}, normal(1, 3)).in({3000}).in({3000}).ftol(2e-5, 2e-5).directions(4)
      .check();
  Op("rms_norm rows of 3000", rms).in({2, 3000}, normal(1, 3)).in({3000}).ftol(2e-5, 2e-5).directions(4).check();
  // C = 1: x - mean = 0 and rstd = 1 / sqrt(eps); a contracted g w - mean(g w) (an FMA, on the
  // GPU as under the emulator) leaves g w's rounding error times rstd, so eps is not tiny here
  Op("layer_norm C 1, eps 0.1", []<class T>(const In<T>& x) { return layer_norm(x[0], x[1], x[2], 0.1); })
      .in({5, 1}).in({1}).in({1}).check();
  Op("rms_norm C 1", rms).in({5, 1}).in({1}).check();
  Op("layer_norm 300 rows", ln).in({300, 40}).in({40}).in({40}).directions(4).check();
  Op("layer_norm 300 rows, weight only", []<class T>(const In<T>& x) { return layer_norm(x[0], x[1], none(x)); })
      .in({300, 40}).in({40}).directions(4).check();
  Op("rms_norm 300 rows", rms).in({300, 40}).in({40}).directions(4).check();
  // gradient of x only (the parameters are constants: no dw, db)
  Op("layer_norm constant parameters", ln).in({7, 6}).constant({6}).constant({6}).check();
  Op("rms_norm constant weight", rms).in({7, 6}).constant({6}).check();
}

TEST_CASE("batch_norm over more values per channel than one reduction part, running stats on every device") {
  // N S = 1200: the CUDA kernels sum each channel in two parts, the second partial
  const auto train = []<class T>(const In<T>& x) { return batch_norm(x[0], x[3].clone(), x[4].clone(), x[1], x[2], true); };
  const auto eval = []<class T>(const In<T>& x) { return batch_norm(x[0], x[3], x[4], x[1], x[2], false); };
  auto op = [](const std::string& name, auto f) {
    Op(name, f).in({2, 3, 24, 25}, normal(0.5, 2)).in({3}).in({3}).constant({3}, normal(0, 0.1))
        .constant({3}, testing::uniform(0.5, 1.5)).directions(4).ftol(2e-5, 2e-5).check();
  };
  op("batch_norm train, 1200 values per channel", train);
  op("batch_norm eval, 1200 values per channel", eval);
  // The running statistics each device leaves behind equal the CPU's.
  Generator gen(31);
  const TensorD x = randn<double>({4, 3, 5, 7}, 0.5, 2.0, gen), rm0 = randn<double>({3}, 0.0, 0.1, gen);
  const TensorD rv0 = rand<double>({3}, 0.5, 1.5, gen);
  auto stats_on = [&](Device d) {
    TensorD rm = rm0.clone().to(d), rv = rv0.clone().to(d);
    batch_norm(x.to(d), rm, rv, TensorD(), TensorD(), true, 0.3);
    return std::pair{rm.cpu(), rv.cpu()};
  };
  const auto want = stats_on(Device::CPU);
  for (Device d : available_devices()) {
    const auto got = stats_on(d);
    check_close(got.first, want.first, 1e-13, 1e-13);
    check_close(got.second, want.second, 1e-13, 1e-13);
  }
}

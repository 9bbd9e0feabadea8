// The autograd engine: backward, accumulation, no-grad, detach, retain_graph, retain_grad,
// the in-place check, deep graphs.
#include "helpers.hpp"

using namespace onenip;
using testing::check_values;

TEST_CASE("backward of a small expression") {
  auto x = tensor<double>({1, 2, 3}).set_requires_grad();
  auto y = tensor<double>({4, 5, 6}).set_requires_grad();
  auto loss = sum(x * y + x * x);  // d/dx = y + 2x, d/dy = x
  loss.backward();
  check_values(x.grad(), {6, 9, 12});
  check_values(y.grad(), {1, 2, 3});
  CHECK(x.is_leaf());
  CHECK(!loss.is_leaf());
  CHECK(loss.grad_fn()->name == "Sum");
}

TEST_CASE("gradients accumulate across backward calls until zero_grad") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  sum(x * x).backward();
  sum(x * x).backward();
  check_values(x.grad(), {4, 8});
  x.zero_grad();
  CHECK(!x.grad().defined());
  sum(x * 3.0).backward();
  check_values(x.grad(), {3, 3});
}

TEST_CASE("a tensor used twice gets the sum of both paths") {
  auto x = tensor<double>({2}).set_requires_grad();
  auto a = x * 3.0;
  auto b = a * a + a;  // 9x^2 + 3x -> 18x + 3
  sum(b).backward();
  check_values(x.grad(), {39});
}

TEST_CASE("NoGradGuard records nothing, detach cuts history but shares storage") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  {
    NoGradGuard ng;
    auto y = x * 2.0;
    CHECK(!y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(grad_enabled());
  auto d = (x * 2.0).detach();
  CHECK(!d.requires_grad());
  auto z = x.detach();
  CHECK(z.same_storage(x));
  CHECK_THROWS_WITH_AS(sum(d).backward(), doctest::Contains("does not require grad"), Error);
}

TEST_CASE("graph is freed after backward unless retain_graph") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  auto y = sum(x * x);
  y.backward(Tensor<double>(), true);
  y.backward();  // retained once: fine
  check_values(x.grad(), {4, 8});
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), Error);
}

TEST_CASE("retain_grad keeps a non-leaf gradient") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  auto h = x * 2.0;
  h.retain_grad();
  sum(h * h).backward();
  check_values(h.grad(), {4, 8});
  check_values(x.grad(), {8, 16});
}

TEST_CASE("modifying a tensor saved for backward raises, naming the op") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  auto w = tensor<double>({3, 4});
  auto y = sum(x * w);  // Mul saves w
  w.add_(tensor<double>({1, 1}));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("Mul"), Error);
  // writing to a tensor nobody saved is fine
  auto x2 = tensor<double>({1, 2}).set_requires_grad();
  auto u = tensor<double>({3, 4});
  auto y2 = sum(x2 + u);
  u.add_(tensor<double>({1, 1}));
  y2.backward();
  check_values(x2.grad(), {1, 1});
}

TEST_CASE("a graph 100000 nodes deep back-propagates without recursion") {
  auto x = tensor<double>({1}).set_requires_grad();
  auto y = x;
  for (int i = 0; i < 100000; ++i) y = y + 1.0;
  sum(y).backward();
  check_values(x.grad(), {1});
}

TEST_CASE("backward with an explicit gradient, shape mismatch is an error") {
  auto x = tensor<double>({1, 2, 3}).set_requires_grad();
  auto y = x * 2.0;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("one-element"), Error);
  CHECK_THROWS_WITH_AS(y.backward(ones<double>({2})), doctest::Contains("[2]"), Error);
  y.backward(tensor<double>({1, 0, -1}));
  check_values(x.grad(), {2, 0, -2});
}

TEST_CASE("inputs that do not require grad get no gradient and cost nothing") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  auto c = tensor<double>({5, 6});
  sum(x * c).backward();
  CHECK(!c.grad().defined());
  check_values(x.grad(), {5, 6});
}

TEST_CASE("gradcheck catches a wrong gradient") {
  // A deliberately wrong backward: d/dx x^2 reported as x.
  GradFn wrong = [](const std::vector<TensorD>& in) {
    TensorD out = map_unary(in[0], [](double v) { return v * v; });
    return record<double>(out, "Wrong", {in[0]}, [](const TensorD& g) { return std::vector<TensorD>{g}; });
  };
  auto r = gradcheck(wrong, {tensor<double>({0.5, 2.0})});
  CHECK(!r.ok);
  CHECK(r.message.find("input 0") != std::string::npos);
}

TEST_CASE("views are differentiable and their gradients land in the base") {
  testing::check_gradients(
      [](const std::vector<TensorD>& in) {
        auto a = in[0];
        return a.permute({1, 0}).slice(0, 1, 2).reshape({-1}) * 2.0 + sum(a.select(0, 1).unsqueeze(0).expand({3, 3}), {0});
      },
      {randn<double>({3, 3})});
  testing::check_gradients(
      [](const std::vector<TensorD>& in) { return in[0].transpose(0, 2).contiguous().flatten().narrow(0, 2, 10); },
      {randn<double>({2, 3, 4})});
  testing::check_gradients([](const std::vector<TensorD>& in) { return in[0].slice(1, 0, 5, 2).squeeze(0); },
                           {randn<double>({1, 5})});
}

TEST_CASE("a leaf destroyed before backward() is skipped, the others still get gradients") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  Tensor<double> y;
  {
    auto w = tensor<double>({3, 4}).set_requires_grad();
    y = sum(x * w);
  }
  y.backward();
  check_values(x.grad(), {3, 4});
}

TEST_CASE("a leaf's first gradient is taken as computed when nothing else refers to it, else copied") {
  auto x = tensor<double>({1, 2}).set_requires_grad();
  // An op whose backward returns a fresh tensor (taken), or one it also keeps (copied).
  const double* returned = nullptr;
  auto op = [&](const TensorD& in, TensorD kept) {
    TensorD out = in.detach() * 3.0;
    return record<double>(out, "Times3", {in}, [&returned, kept](const TensorD& g) {
      TensorD r = kept.defined() ? kept : g * 3.0;
      returned = r.data();
      return std::vector<TensorD>{r};
    });
  };
  op(x, {}).backward(tensor<double>({1, 1}));
  CHECK(x.grad().data() == returned);  // no copy
  check_values(x.grad(), {3, 3});

  x.zero_grad();
  auto kept = tensor<double>({7, 8});
  op(x, kept).backward(tensor<double>({1, 1}), /*retain_graph=*/true);
  CHECK(x.grad().data() != returned);
  x.grad().add_(tensor<double>({1, 1}));  // the kept tensor does not change with the gradient
  check_values(kept, {7, 8});
  check_values(x.grad(), {8, 9});

  // One gradient sent to two leaves (add's backward) and the caller's grad_output: no aliasing.
  auto a = tensor<double>({1, 2}).set_requires_grad(), b = tensor<double>({3, 4}).set_requires_grad();
  auto seed = tensor<double>({1, 1});
  add(a, b).backward(seed);
  a.grad().add_(tensor<double>({10, 10}));
  check_values(b.grad(), {1, 1});
  check_values(seed, {1, 1});
  check_values(a.grad(), {11, 11});
}

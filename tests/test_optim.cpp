// Optimisers: one step by hand, and convergence on a quadratic.
#include "helpers.hpp"

using namespace onenip;
using testing::check_values;

TEST_CASE("SGD with momentum: two steps by hand") {
  auto p = tensor<double>({1.0, -2.0}).set_requires_grad();
  optim::SGD<double> opt({p}, {.lr = 0.1, .momentum = 0.9});
  sum(square(p)).backward();  // g = 2p = (2, -4)
  opt.step();                 // buf = g; p = p - 0.1 g = (0.8, -1.6)
  check_values(p, {0.8, -1.6}, 1e-12);
  opt.zero_grad();
  sum(square(p)).backward();  // g = (1.6, -3.2); buf = 0.9 (2,-4) + g = (3.4, -6.8)
  opt.step();
  check_values(p, {0.8 - 0.34, -1.6 + 0.68}, 1e-12);
}

TEST_CASE("AdamW first step moves each weight by lr against the gradient sign, after decay") {
  auto p = tensor<double>({1.0, -2.0}).set_requires_grad();
  optim::AdamW<double> opt({p}, {.lr = 0.01, .weight_decay = 0.1});
  sum(square(p)).backward();
  opt.step();
  // decay: p(1 - 1e-3); Adam's first step is lr * g/|g| (up to eps)
  check_values(p, {1.0 * 0.999 - 0.01, -2.0 * 0.999 + 0.01}, 1e-9);
  CHECK(opt.steps() == 1);
}

TEST_CASE("Adam and SGD minimise a quadratic") {
  auto target = tensor<float>({3, -1, 2});
  for (int which = 0; which < 2; ++which) {
    auto p = zeros<float>({3}).set_requires_grad();
    std::unique_ptr<optim::Optimizer<float>> opt;
    if (which == 0) opt = std::make_unique<optim::AdamW<float>>(std::vector<TensorF>{p}, optim::AdamW<float>::Options{.lr = 0.1, .weight_decay = 0});
    else opt = std::make_unique<optim::SGD<float>>(std::vector<TensorF>{p}, optim::SGD<float>::Options{.lr = 0.1, .momentum = 0.5});
    for (int i = 0; i < 300; ++i) {
      opt->zero_grad();
      sum(square(p - target)).backward();
      opt->step();
    }
    check_values(p, {3, -1, 2}, 1e-3);
  }
}

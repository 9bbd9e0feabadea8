// A small end-to-end training program: an MLP learns to separate two interleaved spirals.
//
//   onenip-train-mlp [--steps N] [--seed S] [--threads T]
//
// Everything is the library's own: tensors, autograd, AdamW. The program prints the loss as
// it falls and the final accuracy, and exits non-zero if the loss did not fall by 5x.
#include <onenip/onenip.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

using namespace onenip;
using T = float;

namespace {

// Two spirals in the plane, labels 0 and 1. x: [N, 2], y: [N, 1].
std::pair<Tensor<T>, Tensor<T>> make_spirals(int64_t n_per_class, Generator& gen) {
  Tensor<T> x = Tensor<T>::empty({2 * n_per_class, 2}), y = Tensor<T>::empty({2 * n_per_class, 1});
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < n_per_class; ++i) {
      double r = 0.1 + 0.9 * double(i) / double(n_per_class);   // radius grows along the arm
      double th = 3.0 * M_PI * double(i) / double(n_per_class) + M_PI * double(c);
      int64_t k = c * n_per_class + i;
      x.data()[2 * k] = T(r * std::cos(th) + 0.02 * gen.normal());
      x.data()[2 * k + 1] = T(r * std::sin(th) + 0.02 * gen.normal());
      y.data()[k] = T(c);
    }
  return {x, y};
}

// A linear layer: y = x W^T + b, weights uniform in +-1/sqrt(fan_in) (PyTorch's default).
struct Linear {
  Tensor<T> weight, bias;
  Linear(int64_t in, int64_t out, Generator& gen) {
    T bound = T(1 / std::sqrt(double(in)));
    weight = rand<T>({out, in}, -bound, bound, gen).set_requires_grad();
    bias = rand<T>({out}, -bound, bound, gen).set_requires_grad();
  }
  Tensor<T> operator()(const Tensor<T>& x) const { return matmul(x, weight.transpose(0, 1)) + bias; }
};

}  // namespace

int main(int argc, char** argv) {
  int steps = 1500;
  uint64_t seed = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--threads" && i + 1 < argc) set_num_threads(std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--steps N] [--seed S] [--threads T]\nunknown argument: %s\n", argv[0], argv[i]);
      return 2;
    }
  }

  Generator gen(seed);
  auto [x, y] = make_spirals(200, gen);
  Linear l1(2, 64, gen), l2(64, 64, gen), l3(64, 1, gen);
  optim::AdamW<T> opt({l1.weight, l1.bias, l2.weight, l2.bias, l3.weight, l3.bias}, {.lr = 1e-2, .weight_decay = 0});

  // Binary cross-entropy on logits z: mean(softplus(z) - y z), written with stable pieces:
  // softplus(z) = max(z, 0) + log(1 + exp(-|z|)).
  auto bce = [](const Tensor<T>& z, const Tensor<T>& t) {
    auto softplus = relu(z) + log(exp(-abs(z)) + T(1));
    return mean(softplus - t * z);
  };

  double first = 0, last = 0;
  for (int step = 0; step <= steps; ++step) {
    auto logits = l3(tanh(l2(tanh(l1(x)))));
    auto loss = bce(logits, y);
    if (step == 0) first = loss.item();
    last = loss.item();
    if (step % 100 == 0 || step == steps) {
      NoGradGuard ng;
      auto pred = map_unary(logits, [](T v) { return v > 0 ? T(1) : T(0); });
      double acc = 1.0 - mean(abs(pred - y)).item();
      std::printf("step %5d  loss %.4f  accuracy %.3f\n", step, last, acc);
    }
    if (step == steps) break;
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  bool fell = last < first / 5;
  std::printf("loss %.4f -> %.4f: %s\n", first, last, fell ? "learned" : "did NOT fall by 5x");
  return fell ? 0 : 1;
}

// A small training loop on the CUDA backend (emulated in CI, the GPU in bench/gpu_check.sh):
// the same seeded model trained on the CPU and on "cuda" follows the same loss curve, and after
// its first steps the loop allocates no new device memory.
#include <doctest/doctest.h>
#include <onenip/nn/layers.hpp>
#include <onenip/nn/losses.hpp>
#include <onenip/onenip.hpp>
#include <onenip/optim/adamw.hpp>

#include <vector>

#include "runtime.cuh"

using namespace onenip;

namespace {

// x [B, 16] -> linear 16x32 -> layer norm -> GELU -> linear 32x4.
struct TinyMLP : nn::Module<float> {
  std::shared_ptr<nn::Linear<float>> fc1, fc2;
  std::shared_ptr<nn::LayerNorm<float>> norm;
  explicit TinyMLP(Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear<float>>(16, 32, true, gen));
    norm = register_module("norm", std::make_shared<nn::LayerNorm<float>>(32));
    fc2 = register_module("fc2", std::make_shared<nn::Linear<float>>(32, 4, true, gen));
  }
  TensorF operator()(const TensorF& x) const { return (*fc2)(gelu((*norm)((*fc1)(x)))); }
};

struct Run {
  std::vector<double> losses;
  uint64_t device_allocations_after_warmup = 0;
};

Run train(Device device, int steps) {
  Generator gen(42);
  TinyMLP model(gen);
  TensorF x = randn<float>({24, 16}, 0.0f, 1.0f, gen), y = randn<float>({24, 4}, 0.0f, 1.0f, gen);
  model.to(device);
  x = x.to(device), y = y.to(device);
  optim::AdamW<float> opt(model.parameters(), {.lr = 1e-2, .weight_decay = 1e-2});
  Run r;
  uint64_t warm = 0;
  for (int s = 0; s < steps; ++s) {
    if (s == 2) warm = cuda::raw_allocations();
    opt.zero_grad();
    TensorF loss = nn::mse_loss(model(x), y);
    loss.backward();
    opt.step();
    r.losses.push_back(double(loss.cpu().item()));
  }
  r.device_allocations_after_warmup = cuda::raw_allocations() - warm;
  return r;
}

}  // namespace

TEST_CASE("cuda training: a seeded MLP follows the CPU's loss curve and allocates nothing after warm-up") {
  const int steps = 6;
  Run cpu = train(Device::CPU, steps), gpu = train(Device::CUDA, steps);
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s << ": cpu " << cpu.losses[size_t(s)] << ", cuda " << gpu.losses[size_t(s)]);
    CHECK(gpu.losses[size_t(s)] == doctest::Approx(cpu.losses[size_t(s)]).epsilon(1e-4));
  }
  CHECK(cpu.losses.back() < 0.8 * cpu.losses.front());  // it learns
  CHECK(gpu.device_allocations_after_warmup == 0);
}

// A small training loop on the CUDA backend (emulated in CI, the GPU in bench/gpu_check.sh):
// the same seeded model trained on the CPU and on "cuda" follows the same loss curve, and after
// its first steps the loop allocates no new device memory.
#include <doctest/doctest.h>
#include <onenip/nn/layers.hpp>
#include <onenip/nn/losses.hpp>
#include <onenip/onenip.hpp>
#include <onenip/io/checkpoint.hpp>
#include <onenip/optim/adamw.hpp>

#include <filesystem>
#include <vector>

#include "file_helpers.hpp"
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

namespace {

// A TinyMLP and its AdamW on `device`, trained `steps` steps on fixed data; checkpoints go
// through io::save_checkpoint / load_checkpoint, which see the tensors wherever they live.
struct Session {
  Generator gen{42};
  TinyMLP model{gen};
  TensorF x, y;
  std::unique_ptr<optim::AdamW<float>> opt;
  Device device;
  explicit Session(Device d) : device(d) {
    x = randn<float>({24, 16}, 0.0f, 1.0f, gen).to(d), y = randn<float>({24, 4}, 0.0f, 1.0f, gen).to(d);
    model.to(d);
    opt = std::make_unique<optim::AdamW<float>>(model.parameters(), optim::AdamW<float>::Options{.lr = 1e-2, .weight_decay = 1e-2});
  }
  std::vector<double> train(int steps) {
    std::vector<double> losses;
    for (int s = 0; s < steps; ++s) {
      opt->zero_grad();
      TensorF loss = nn::mse_loss(model(x), y);
      loss.backward();
      opt->step();
      losses.push_back(double(loss.cpu().item()));
    }
    return losses;
  }
  io::TrainingState<float> state() {
    io::TrainingState<float> s;
    s.model = &model, s.optimizer = opt.get();
    return s;
  }
};

}  // namespace

TEST_CASE("cuda training: a checkpoint saved on cuda resumes on the cpu, and one saved on the cpu resumes on cuda") {
  testing::TempDir dir;
  const std::string from_cuda = dir.file("from_cuda.safetensors"), from_cpu = dir.file("from_cpu.safetensors");
  Session cuda_run(Device::CUDA), cpu_run(Device::CPU);
  cuda_run.train(3), cpu_run.train(3);
  io::save_checkpoint(from_cuda, cuda_run.state());
  io::save_checkpoint(from_cpu, cpu_run.state());
  const std::vector<double> cuda_next = cuda_run.train(3), cpu_next = cpu_run.train(3);

  Session cpu_resumed(Device::CPU), cuda_resumed(Device::CUDA);
  auto s1 = cpu_resumed.state(), s2 = cuda_resumed.state();
  io::load_checkpoint(from_cuda, s1);
  io::load_checkpoint(from_cpu, s2);
  for (auto& [name, p] : cuda_resumed.model.named_parameters()) CHECK_MESSAGE(p.device() == Device::CUDA, name);
  const std::vector<double> on_cpu = cpu_resumed.train(3), on_cuda = cuda_resumed.train(3);
  for (size_t s = 0; s < 3; ++s) {
    INFO("step " << s);
    CHECK(on_cpu[s] == doctest::Approx(cuda_next[s]).epsilon(1e-4));  // cuda -> cpu continues the cuda run
    CHECK(on_cuda[s] == doctest::Approx(cpu_next[s]).epsilon(1e-4));  // cpu -> cuda continues the cpu run
  }
}

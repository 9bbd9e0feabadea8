// OneNIP trained through pipeline::Trainer on the CUDA backend (emulated in CI, the GPU in
// bench/gpu_check.sh) against the same seeded run on the CPU: the backbone, the model, the
// losses and AdamW all run on the device, and the loss curve of the first steps is the CPU's
// to float rounding. With BF16 matmuls and attention (mixed precision) it stays close. Both
// backbones compute the same features on cuda as on the CPU.
#include <doctest/doctest.h>
#include <onenip/data/demo_dataset.hpp>
#include <onenip/pipeline/trainer.hpp>

#include <fstream>
#include <regex>
#include <vector>

#include "file_helpers.hpp"
#include "tiny_train_config.hpp"

using namespace onenip;

namespace {

struct Curve {
  std::vector<double> losses;  // per step, from train.log
  std::vector<std::pair<std::string, TensorF>> params;
};

// A demo dataset of `per_class` training images per class at `size` px, in `dir`.
std::string demo_data(const testing::TempDir& dir, int size, int per_class) {
  data::DemoDatasetOptions o;
  o.size = size, o.train_per_class = per_class, o.good_test_per_class = 1, o.defects_per_kind = 1;
  const std::string root = dir.file("data_" + std::to_string(size));
  data::write_demo_dataset(root, o);
  return root;
}

// The first epoch of `cfg` (its run folder `name` in `dir`) on `device`.
Curve train(pipeline::TrainConfig cfg, const testing::TempDir& dir, const std::string& name, Device device,
            MathPrecision precision) {
  cfg.out = dir.file(name);
  cfg.epochs = 1, cfg.workers = 1;
  cfg.device = device, cfg.precision = precision;
  pipeline::Trainer trainer(cfg);
  trainer.run(nullptr);
  Curve c;
  std::ifstream log(cfg.out + "/train.log");
  const std::regex step_line(R"(^epoch 1 step \d+ loss (\S+))");
  std::smatch m;
  for (std::string line; std::getline(log, line);)
    if (std::regex_search(line, m, step_line)) c.losses.push_back(std::stod(m[1]));
  for (auto& [n, p] : trainer.model()->named_parameters()) c.params.emplace_back(n, p.cpu());
  return c;
}

// `steps` steps of a 64 px, one-layer, 32-wide OneNIP (dropout and jitter on), batch 2.
Curve train_tiny(const testing::TempDir& dir, const std::string& name, Device device, MathPrecision precision, int steps) {
  static const std::string data = demo_data(dir, 64, 2);
  pipeline::TrainConfig cfg = testing::tiny_train_config(data, "");
  cfg.max_steps = steps, cfg.batch_size = 2;
  return train(cfg, dir, name, device, precision);
}

}  // namespace

TEST_CASE("cuda training: pipeline::Trainer on cuda follows the cpu's loss curve, and bf16 stays close to it") {
  testing::TempDir dir;
  const int steps = 3;
  const Curve cpu = train_tiny(dir, "cpu", Device::CPU, MathPrecision::FP32, steps);
  const Curve gpu = train_tiny(dir, "cuda", Device::CUDA, MathPrecision::FP32, steps);
  REQUIRE(cpu.losses.size() == size_t(steps));
  REQUIRE(gpu.losses.size() == size_t(steps));
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s << ": cpu " << cpu.losses[size_t(s)] << ", cuda " << gpu.losses[size_t(s)]);
    CHECK(gpu.losses[size_t(s)] == doctest::Approx(cpu.losses[size_t(s)]).epsilon(1e-4));
  }
  // AdamW moves a weight whose gradient is mostly rounding by a share of lr (1e-3) per step
  for (size_t i = 0; i < cpu.params.size(); ++i) {
    INFO("parameter " << cpu.params[i].first);
    CHECK(max(abs(cpu.params[i].second - gpu.params[i].second)).item() < 3e-3f);
  }
  // BF16 inputs (8 bits of mantissa) to every matmul and attention product, FP32 sums and weights
  const Curve bf16 = train_tiny(dir, "bf16", Device::CUDA, MathPrecision::BF16, steps);
  REQUIRE(bf16.losses.size() == size_t(steps));
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s << ": fp32 " << gpu.losses[size_t(s)] << ", bf16 " << bf16.losses[size_t(s)]);
    CHECK(bf16.losses[size_t(s)] == doctest::Approx(gpu.losses[size_t(s)]).epsilon(2e-3));  // seen: 2.5e-4
    CHECK(bf16.losses[size_t(s)] != gpu.losses[size_t(s)]);  // the products did round to bf16
  }
}

#if !defined(ONENIP_CUDA_EMULATED)
// On a real GPU (bench/gpu_check.sh): the paper's model at full size, MobileNetV2 at 224 px,
// 4 + 4 layers of width 256, batch 8, for 3 steps (the emulator would take hours).
TEST_CASE("cuda training (GPU only): the full-size model on cuda follows the cpu's loss curve") {
  testing::TempDir dir;
  pipeline::TrainConfig cfg;
  cfg.data = {demo_data(dir, 224, 8)};  // 24 images: 3 steps of 8
  cfg.max_steps = 3;
  const Curve cpu = train(cfg, dir, "cpu", Device::CPU, MathPrecision::FP32);
  const Curve gpu = train(cfg, dir, "cuda", Device::CUDA, MathPrecision::FP32);
  const Curve bf16 = train(cfg, dir, "bf16", Device::CUDA, MathPrecision::BF16);
  REQUIRE(cpu.losses.size() == 3);
  for (size_t s = 0; s < 3; ++s) {
    INFO("step " << s << ": cpu " << cpu.losses[s] << ", cuda " << gpu.losses[s] << ", bf16 " << bf16.losses[s]);
    CHECK(gpu.losses[s] == doctest::Approx(cpu.losses[s]).epsilon(1e-3));
    CHECK(bf16.losses[s] == doctest::Approx(cpu.losses[s]).epsilon(1e-2));
  }
}
#endif

TEST_CASE("cuda: both backbones' features on cuda equal the cpu's (MobileNetV2, EfficientNet-b4)") {
  Generator g(8);
  const TensorF images = rand<float>({2, 3, 64, 64}, -1.f, 1.f, g);  // normalised images, 64 px
  for (const char* name : {"mobilenetv2", "efficientnet-b4"}) {
    INFO("backbone " << name);
    auto fx = models::make_untrained_feature_extractor<float>(name);
    const TensorF on_cpu = fx->features(images);
    fx->to(Device::CUDA);
    const TensorF on_cuda = fx->features(images.to(Device::CUDA));
    CHECK(on_cuda.device() == Device::CUDA);
    const float scale = max(abs(on_cpu)).item();
    CHECK(max(abs(on_cuda.cpu() - on_cpu)).item() <= 1e-4f * scale);  // float sums in another order
    CHECK_THROWS_WITH_AS(fx->features(images), doctest::Contains("the weights on cuda"), Error);
  }
}

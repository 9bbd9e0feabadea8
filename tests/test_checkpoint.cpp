// Training checkpoints: resume equals an uninterrupted run bit for bit, atomic replacement,
// corrupt or mismatched checkpoints refused with clear errors.
#include "file_helpers.hpp"
#include "helpers.hpp"

using namespace onenip;
using testing::check_close;

namespace {
struct Layer : nn::Module<float> {
  TensorF weight, bias;
  Layer(int64_t in, int64_t out, Generator& g) {
    weight = register_parameter("weight", randn<float>({out, in}, 0.0f, 0.5f, g));
    bias = register_parameter("bias", zeros<float>({out}));
  }
  TensorF forward(const TensorF& x) const { return matmul(x, weight.transpose(0, 1)) + bias; }
};
// A small regression model with dropout-like noise drawn from a Generator.
struct Model : nn::Module<float> {
  std::shared_ptr<Layer> fc1, fc2;
  TensorF seen;
  explicit Model(Generator& init) {
    fc1 = register_module("fc1", std::make_shared<Layer>(6, 16, init));
    fc2 = register_module("fc2", std::make_shared<Layer>(16, 3, init));
    seen = register_buffer("seen", zeros<float>({}));  // a buffer that changes while training
  }
  TensorF forward(const TensorF& x, Generator& noise) {
    TensorF h = relu(fc1->forward(x));
    if (is_training()) {
      TensorF keep = map_unary(rand<float>(h.shape(), 0.0f, 1.0f, noise), [](float u) { return u < 0.8f ? 1.25f : 0.0f; });
      h = h * keep;
      NoGradGuard ng;
      seen.add_(ones<float>({}));
    }
    return fc2->forward(h);
  }
};

// Everything a run owns, built fresh from the configuration.
struct Run {
  nlohmann::json config;
  Generator init, data, noise;
  Model model;
  optim::AdamW<float> opt;
  optim::StepLR<float> sched;
  int64_t step = 0;
  explicit Run(nlohmann::json cfg)
      : config(cfg), init(cfg["seed"].get<uint64_t>()), data(cfg["seed"].get<uint64_t>() + 1),
        noise(cfg["seed"].get<uint64_t>() + 2), model(init),
        opt(model.parameters(), {.lr = cfg["lr"].get<double>(), .weight_decay = 1e-2}),
        sched(opt, cfg["lr_step"].get<int64_t>(), 0.5) {}

  void train_steps(int n) {
    for (int i = 0; i < n; ++i, ++step) {
      TensorF x = randn<float>({8, 6}, 0.0f, 1.0f, data), y = randn<float>({8, 3}, 0.0f, 1.0f, data);
      opt.zero_grad();
      nn::mse_loss(model.forward(x, noise), y).backward();
      optim::clip_grad_norm_(model.parameters(), 0.5);
      opt.step();
      sched.step(step + 1);  // one "epoch" per step keeps the test short
    }
  }
  io::TrainingState<float> state() {
    return {&model, &opt, &sched, {{"data", &data}, {"noise", &noise}}, step, step, config, {{"scale", 0.25}}};
  }
};

const nlohmann::json kConfig = {{"seed", 42}, {"lr", 0.01}, {"lr_step", 4}};
}  // namespace

TEST_CASE("resume: N/2 steps, save, load into fresh objects, N/2 more == N straight, bit for bit") {
  testing::TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  Run straight(kConfig);
  straight.train_steps(10);

  Run first(kConfig);
  first.train_steps(5);
  io::save_checkpoint(path, first.state());

  nlohmann::json cfg = io::read_checkpoint_metadata(path)["config"];
  CHECK(cfg == kConfig);
  Run resumed(cfg);  // fresh: different generator states, untrained weights, no optimizer state
  auto st = resumed.state();
  io::load_checkpoint(path, st);
  resumed.step = st.global_step;
  CHECK(st.epoch == 5);
  CHECK(st.extra["scale"] == 0.25);
  CHECK(resumed.opt.step_count(0) == 5);
  CHECK(resumed.opt.lr() == first.opt.lr());
  CHECK(resumed.noise.offset() == first.noise.offset());
  resumed.train_steps(5);

  auto a = straight.model.state_dict(), b = resumed.model.state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    check_close(a[i].second, b[i].second, 0, 0);
  }
  for (size_t i = 0; i < 4; ++i) {
    check_close(straight.opt.exp_avg()[i], resumed.opt.exp_avg()[i], 0, 0);
    check_close(straight.opt.exp_avg_sq()[i], resumed.opt.exp_avg_sq()[i], 0, 0);
  }
  CHECK(straight.opt.lr() == resumed.opt.lr());
  CHECK(straight.model.seen.item() == 10.0f);
  CHECK(resumed.model.seen.item() == 10.0f);

  // restoring the model and generators but not the optimiser state: the run differs, so the
  // comparison above can fail
  Run naive(kConfig);
  io::TrainingState<float> partial;
  partial.model = &naive.model;
  partial.generators = {{"data", &naive.data}, {"noise", &naive.noise}};
  io::load_checkpoint(path, partial);
  naive.step = partial.global_step;
  naive.sched.step(naive.step);
  check_close(naive.model.fc1->weight, first.model.fc1->weight, 0, 0);
  naive.train_steps(5);
  bool all_same = true;
  auto c = naive.model.state_dict();
  for (size_t i = 0; i < a.size(); ++i)
    for (int64_t k = 0; k < a[i].second.numel(); ++k) all_same &= a[i].second.data()[k] == c[i].second.data()[k];
  CHECK(!all_same);
}

TEST_CASE("checkpoint layout: model.*, optim.<slot>.*, metadata as JSON, the model alone loads for inference") {
  testing::TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  Run run(kConfig);
  run.train_steps(2);
  io::save_checkpoint(path, run.state());
  io::SafeTensorsFile f(path);
  std::vector<std::string> names;
  for (auto& t : f.tensors()) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"model.seen", "model.fc1.weight", "model.fc1.bias", "model.fc2.weight",
                                          "model.fc2.bias", "optim.exp_avg.fc1.weight", "optim.exp_avg.fc1.bias",
                                          "optim.exp_avg.fc2.weight", "optim.exp_avg.fc2.bias",
                                          "optim.exp_avg_sq.fc1.weight", "optim.exp_avg_sq.fc1.bias",
                                          "optim.exp_avg_sq.fc2.weight", "optim.exp_avg_sq.fc2.bias"});
  auto md = io::read_checkpoint_metadata(path);
  CHECK(md["format"] == "onenip.checkpoint.v1");
  CHECK(md["optimizer"]["kind"] == "AdamW");
  CHECK(md["optimizer"]["scalars"]["step"] == nlohmann::json{2, 2, 2, 2});
  CHECK(md["schedule"]["last_epoch"] == 2);
  CHECK(md["rng"]["noise"]["seed"] == 44);
  CHECK(md["rng"]["data"]["offset"] == run.data.offset());

  Generator g(0);
  Model inference(g);
  io::TrainingState<float> only_model;
  only_model.model = &inference;
  io::load_checkpoint(path, only_model);
  check_close(inference.fc2->weight, run.model.fc2->weight, 0, 0);
  CHECK(only_model.config == kConfig);
}

TEST_CASE("a crash while saving leaves the previous checkpoint loadable, a truncated one is refused") {
  testing::TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  Run run(kConfig);
  run.train_steps(2);
  io::save_checkpoint(path, run.state());
  const std::string good = testing::read_bytes(path);

  // crash mid-write: garbage at the temporary name, the real file untouched
  testing::write_bytes(io::temp_path_for(path), good.substr(0, good.size() / 2));
  Run fresh(kConfig);
  auto st = fresh.state();
  io::load_checkpoint(path, st);
  check_close(fresh.model.fc1->weight, run.model.fc1->weight, 0, 0);
  // the next save replaces it cleanly
  run.train_steps(1);
  io::save_checkpoint(path, run.state());
  CHECK(!std::filesystem::exists(io::temp_path_for(path)));
  CHECK(io::read_checkpoint_metadata(path)["global_step"] == 3);

  // a save that fails midway (exception while writing) leaves the last good one
  const std::string before = testing::read_bytes(path);
  CHECK_THROWS(io::atomic_write(path, [&](io::FileSink& out) {
    out.write(good.data(), 100);
    throw Error("disk full (simulated)");
  }));
  CHECK(testing::read_bytes(path) == before);

  // a truncated checkpoint (copied by hand, say) is refused, naming the file and the tensor
  const std::string cut = dir.file("cut.safetensors");
  testing::write_bytes(cut, before.substr(0, before.size() - 10));
  auto st2 = fresh.state();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(cut, st2),
                       doctest::Contains(("safetensors '" + cut + "', tensor 'optim.exp_avg_sq.fc2.bias': data_offsets").c_str()),
                       Error);
}

TEST_CASE("mismatched checkpoints are refused with what differs") {
  testing::TempDir dir;
  const std::string path = dir.file("ckpt.safetensors");
  Run run(kConfig);
  run.train_steps(1);
  io::save_checkpoint(path, run.state());

  // not a checkpoint
  const std::string plain = dir.file("plain.safetensors");
  run.model.save(plain);
  auto st = run.state();
  CHECK_THROWS_WITH_AS(io::load_checkpoint(plain, st), doctest::Contains("not an onenip checkpoint (__metadata__ format is missing"), Error);

  // a different model
  Generator g(1);
  Layer other(6, 16, g);
  io::TrainingState<float> wrong;
  wrong.model = &other;
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, wrong),
                       doctest::Contains("(tensors under 'model.') failed:\n"
                                         "  missing 2 tensors (in the module, not in the source): weight, bias\n"
                                         "  unexpected 5 tensors (in the source, not in the module): seen, fc1.weight, fc1.bias, "
                                         "fc2.weight, fc2.bias"),
                       Error);

  // different generators
  Run fresh(kConfig);
  auto st2 = fresh.state();
  st2.generators.erase("data");
  st2.generators["augment"] = &fresh.data;
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, st2), doctest::Contains("random generators differ: missing [augment], unexpected [data]"), Error);

  // a different optimiser
  optim::SGD<float> sgd(fresh.model.parameters(), {.momentum = 0.9});
  auto st3 = fresh.state();
  st3.optimizer = &sgd;
  st3.schedule = nullptr;
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, st3), doctest::Contains("the saved state is from AdamW, this optimizer is SGD"), Error);

  // an optimiser over other parameters
  optim::AdamW<float> part(fresh.model.fc2->parameters(), {});
  st3.optimizer = &part;
  CHECK_THROWS_WITH_AS(io::load_checkpoint(path, st3),
                       doctest::Contains("the optimizer's parameters differ from the saved ones: missing [], unexpected [fc1.weight, fc1.bias]"), Error);
  // an optimiser parameter outside the model cannot be saved
  auto stray = zeros<float>({2}).set_requires_grad();
  optim::AdamW<float> outside({stray}, {});
  st3.optimizer = &outside;
  CHECK_THROWS_WITH_AS(io::save_checkpoint(dir.file("x.safetensors"), st3),
                       doctest::Contains("optimizer parameter 0 (shape [2]) is not a parameter of the model"), Error);
  // SGD state round trips through a checkpoint too (momentum buffers)
  optim::SGD<float> sgd2(run.model.parameters(), {.lr = 0.1, .momentum = 0.9});
  run.model.zero_grad();
  sum(run.model.forward(ones<float>({1, 6}), run.noise)).backward();
  sgd2.step();
  auto st4 = run.state();
  st4.optimizer = &sgd2;
  io::save_checkpoint(path, st4);
  optim::SGD<float> sgd3(fresh.model.parameters(), {.lr = 0.1, .momentum = 0.9});
  auto st5 = fresh.state();
  st5.optimizer = &sgd3;
  io::load_checkpoint(path, st5);
  check_close(sgd3.momentum_buffers()[2], sgd2.momentum_buffers()[2], 0, 0);
}

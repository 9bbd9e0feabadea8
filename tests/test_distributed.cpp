// Data parallelism over MPI. Run by mpirun with 2 ranks (ctest does; any count works): every
// rank runs every test case, in the same order, so the collectives inside them pair up.
// The central check: 2 ranks with 4 samples each train the same weights as 1 process with 8.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <onenip/data/demo_dataset.hpp>
#include <onenip/distributed/mpi.hpp>
#include <onenip/distributed/sync_batch_norm.hpp>
#include <onenip/pipeline/trainer.hpp>

#include <csignal>
#include <cstring>
#include <cstdlib>
#include <filesystem>

#include "file_helpers.hpp"
#include "tiny_train_config.hpp"

using namespace onenip;
namespace fs = std::filesystem;

namespace {
std::shared_ptr<distributed::MpiCommunicator> world;

// Largest |a - b| over two tensors of the same shape.
double max_diff(const TensorF& a, const TensorF& b) {
  REQUIRE(a.shape() == b.shape());
  TensorF x = a.contiguous(), y = b.contiguous();
  double m = 0;
  for (int64_t i = 0; i < x.numel(); ++i) m = std::max(m, double(std::abs(x.data()[i] - y.data()[i])));
  return m;
}

// Does every rank hold bitwise the same values as rank 0?
bool same_on_every_rank(const std::vector<TensorF>& tensors) {
  TensorF mine = distributed::flatten_all(tensors).cpu(), root = mine.clone();
  distributed::broadcast_(root, *world, 0);
  double differs = std::memcmp(root.data(), mine.data(), size_t(mine.numel()) * sizeof(float)) != 0;
  world->all_reduce_sum(&differs, 1);
  return differs == 0;
}

// A tiny run on a generated dataset (each rank generates the same one in its own folder).
pipeline::TrainConfig tiny_config(const std::string& data, const std::string& out) {
  pipeline::TrainConfig c = testing::tiny_train_config(data, out);
  c.epochs = 1;
  c.batch_size = 8;
  c.workers = 1;
  // dropout and jitter stay on: their noise is keyed by the global sample index, so N ranks draw
  // what one process draws
  return c;
}
std::string tiny_dataset(const testing::TempDir& dir) {
  data::DemoDatasetOptions o;
  o.size = 64, o.train_per_class = 6, o.good_test_per_class = 1, o.defects_per_kind = 1;
  std::string root = dir / "data";
  data::write_demo_dataset(root, o);
  return root;
}
}  // namespace

TEST_CASE("distributed: all-reduce, broadcast and the differentiable all-reduce") {
  const int r = world->rank(), n = world->size();
  std::vector<float> f{float(r), 1.0f, float(r * r)};
  world->all_reduce_sum(f.data(), f.size());
  CHECK(f[0] == float(n * (n - 1) / 2));
  CHECK(f[1] == float(n));
  std::vector<double> d{0.5 * r};
  world->all_reduce_sum(d.data(), 1);
  CHECK(d[0] == doctest::Approx(0.25 * n * (n - 1)));
  int64_t token = r == 0 ? 424242 : -1;
  world->broadcast(&token, sizeof(token), 0);
  CHECK(token == 424242);
  world->barrier();

  // y = sum over ranks of x_r; loss_r = sum((r + 1) y): d loss_total / d x_r = sum over r' of (r' + 1)
  TensorF x = full<float>({3}, float(r + 1)).set_requires_grad();
  TensorF y = distributed::all_reduce_sum(x, *world);
  CHECK(y.data()[0] == float(n * (n + 1) / 2));
  sum(y * float(r + 1)).backward();
  CHECK(x.grad().data()[2] == float(n * (n + 1) / 2));
}

TEST_CASE("distributed: synchronised batch norm equals batch norm over the global batch") {
  // the global batch [2n, 3, 5, 5], the same on every rank; rank r takes samples 2r, 2r + 1
  const int r = world->rank(), n = world->size();
  Generator g(5);
  TensorF global_x = randn<float>({int64_t(2 * n), 3, 5, 5}, 1.0f, 2.0f, g);
  TensorF upstream = randn<float>({int64_t(2 * n), 3, 5, 5}, 0.0f, 1.0f, g);
  TensorF w = full<float>({3}, 1.5f).set_requires_grad(), b = full<float>({3}, 0.25f).set_requires_grad();

  TensorF xa = global_x.clone().set_requires_grad();
  TensorF rm = zeros<float>({3}), rv = ones<float>({3});
  TensorF ya = batch_norm(xa, rm, rv, w, b, true, 0.1, 1e-5);
  sum(ya * upstream).backward();
  TensorF dw_single = w.grad().clone(), db_single = b.grad().clone();
  w.zero_grad(), b.zero_grad();

  TensorF xs = global_x.narrow(0, 2 * r, 2).clone().set_requires_grad();
  TensorF sm = zeros<float>({3}), sv = ones<float>({3});
  TensorF ys = distributed::sync_batch_norm(xs, sm, sv, w, b, 0.1, 1e-5, *world);
  sum(ys * upstream.narrow(0, 2 * r, 2)).backward();
  std::vector<TensorF> param_grads{w.grad(), b.grad()};
  TensorF bucket = distributed::flatten_all(param_grads);  // as the trainer does: sum the ranks' parameter gradients
  distributed::all_reduce_sum_(bucket, *world);
  distributed::unflatten_into(bucket, param_grads);

  CHECK(max_diff(ys, ya.narrow(0, 2 * r, 2)) < 1e-5);
  CHECK(max_diff(xs.grad(), xa.grad().narrow(0, 2 * r, 2)) < 1e-5);
  CHECK(max_diff(w.grad(), dw_single) < 1e-4);
  CHECK(max_diff(b.grad(), db_single) < 1e-4);
  CHECK(max_diff(sm, rm) < 1e-6);
  CHECK(max_diff(sv, rv) < 1e-6);
}

TEST_CASE("distributed: N ranks with B / N samples each train the weights of one process with B") {
  testing::TempDir dir;
  const std::string data = tiny_dataset(dir);
  auto cfg = tiny_config(data, dir / "single");
  cfg.max_steps = 3;
  cfg.sync_bn = true;
  cfg.clip = 0;  // clipping to a norm, like AdamW's step, hides a wrong gradient scale; the moments below show it
  // 4 classes x 6 images = 24: three full batches of 8, split 4 + 4 over 2 ranks
  pipeline::Trainer single(cfg, std::make_shared<distributed::SingleProcess>());
  const auto single_epoch = single.run(nullptr);
  cfg.out = dir / "parallel";
  pipeline::Trainer parallel(cfg, world);
  const auto parallel_epoch = parallel.run(nullptr);
  REQUIRE(parallel.global_step() == 3);
  // the reported loss is the global batch's
  CHECK(parallel_epoch[0].loss == doctest::Approx(single_epoch[0].loss).epsilon(1e-5));
  CHECK(parallel_epoch[0].images == single_epoch[0].images);

  // float32 sums in another order (each rank's half of the batch, then the all-reduce; the
  // synchronised batch norm's composite ops against the fused kernel) differ by rounding. AdamW
  // divides each component by its own RMS, so a component whose gradient is mostly rounding moves
  // by a fair part of lr = 1e-3 either way: after 3 steps the weights differ by about 2e-5. A wrong
  // gradient weighting (summing instead of averaging) gives 1e-3, so the bound 1e-4 separates them.
  double worst = 0;
  auto a = single.model()->named_parameters(), b = parallel.model()->named_parameters();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, max_diff(a[i].second, b[i].second));
  MESSAGE("largest weight difference, 1 process vs " << world->size() << " ranks: " << worst);
  CHECK(worst < 1e-4);
  auto sa = single.model()->named_buffers(), sb = parallel.model()->named_buffers();
  for (size_t i = 0; i < sa.size(); ++i) CHECK(max_diff(sa[i].second, sb[i].second) < 1e-4);  // BN running stats
  // AdamW's moments are linear (exp_avg) and quadratic (exp_avg_sq) in the gradient: a gradient
  // summed instead of averaged over the ranks doubles them
  for (const char* slot : {"exp_avg", "exp_avg_sq"}) {
    auto ma = single.optimizer().state().slots.at(slot), mb = parallel.optimizer().state().slots.at(slot);
    for (size_t i = 0; i < ma.size(); ++i) {
      const double scale = max_diff(ma[i], zeros_like(ma[i]));
      CHECK_MESSAGE(max_diff(ma[i], mb[i]) <= 1e-3 * scale + 1e-12, slot, " of parameter ", i);
    }
  }

  // every rank holds the same weights and optimiser state, bit for bit
  std::vector<TensorF> state = parallel.model()->parameters();
  for (auto& [slot, per_param] : parallel.optimizer().state().slots)
    state.insert(state.end(), per_param.begin(), per_param.end());
  CHECK(same_on_every_rank(state));
  // only rank 0 wrote the run folder
  CHECK(fs::exists(dir / "parallel/checkpoint.safetensors") == world->is_root());
}

TEST_CASE("distributed: a run checkpointed by N ranks resumes on 1 as if it had never been split") {
  testing::TempDir dir;
  auto cfg = tiny_config(tiny_dataset(dir), dir / "straight");
  cfg.epochs = 2;
  cfg.max_steps = 2;
  cfg.sync_bn = true;
  auto single = std::make_shared<distributed::SingleProcess>();
  pipeline::Trainer straight(cfg, single);
  straight.run(nullptr);

  std::array<char, 4096> folder{};  // rank 0's folder, where the N-rank run writes
  std::string mine = dir / "split";
  std::copy(mine.begin(), mine.end(), folder.begin());
  world->broadcast(folder.data(), folder.size(), 0);
  const std::string split = folder.data();
  cfg.out = split;
  cfg.epochs = 1;
  { pipeline::Trainer first(cfg, world); first.run(nullptr); }
  world->barrier();  // the checkpoint is written

  cfg.out = dir / "resumed";  // every rank continues alone, in its own folder
  cfg.epochs = 2;
  pipeline::Trainer resumed(cfg, single);
  resumed.resume(split + "/checkpoint.safetensors");
  resumed.run(nullptr);
  auto a = straight.model()->named_parameters(), b = resumed.model()->named_parameters();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, max_diff(a[i].second, b[i].second));
  CHECK(resumed.global_step() == 4);
  CHECK(worst < 2e-5);
  world->barrier();  // rank 0's folder goes at scope exit: the others are done reading it
}

// Needs a CUDA backend (the emulated one in CI's mpi tier): ranks whose model lives on cuda sum
// their gradients over MPI through the host, and land where the same ranks land on the cpu.
TEST_CASE("distributed: N ranks on cuda, summed over MPI through the host, train the weights of N ranks on the cpu" *
          doctest::skip(available_devices().size() < 2)) {
  testing::TempDir dir;
  auto cfg = tiny_config(tiny_dataset(dir), dir / "cpu");
  cfg.max_steps = 2;
  cfg.sync_bn = true;  // its statistics are all-reduced from the device too
  pipeline::Trainer on_cpu(cfg, world);
  const auto cpu_epoch = on_cpu.run(nullptr);
  cfg.out = dir / "cuda";
  cfg.device = Device::CUDA;
  pipeline::Trainer on_cuda(cfg, world);
  const auto cuda_epoch = on_cuda.run(nullptr);
  REQUIRE(on_cuda.global_step() == 2);
  CHECK(cuda_epoch[0].loss == doctest::Approx(cpu_epoch[0].loss).epsilon(1e-4));
  // the same sums in another order (the device's kernels): rounding, which AdamW's first steps
  // amplify to about lr / 100 at most; a gradient left unsummed on one rank moves weights by ~lr
  double worst = 0;
  auto a = on_cpu.model()->named_parameters(), b = on_cuda.model()->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, max_diff(a[i].second, b[i].second.cpu()));
  MESSAGE("largest weight difference, " << world->size() << " ranks on cpu vs on cuda: " << worst);
  CHECK(worst < 1e-4);
  std::vector<TensorF> state = on_cuda.model()->parameters();
  for (auto& [slot, per_param] : on_cuda.optimizer().state().slots) state.insert(state.end(), per_param.begin(), per_param.end());
  CHECK(same_on_every_rank(state));
}

// Run alone, by tests/mpi_rank_death.sh (it sets ONENIP_RANK_DEATH_DIR): a checkpointed run
// continues, and the last rank dies of SIGKILL while the others are in a step.
TEST_CASE("distributed: rank death" * doctest::skip(std::getenv("ONENIP_RANK_DEATH_DIR") == nullptr)) {
  const std::string out = std::getenv("ONENIP_RANK_DEATH_DIR");
  testing::TempDir dir;
  auto cfg = tiny_config(tiny_dataset(dir), out);
  cfg.max_steps = 1;
  cfg.save_every = 1;
  { pipeline::Trainer first(cfg, world); first.run(nullptr); }
  world->barrier();
  if (world->is_root()) fs::copy_file(out + "/checkpoint.safetensors", out + "/checkpoint.before", fs::copy_options::overwrite_existing);
  world->barrier();
  cfg.epochs = 3;
  pipeline::Trainer second(cfg, world);
  second.resume(second.checkpoint_path());
  if (world->rank() == world->size() - 1) std::raise(SIGKILL);
  second.run(nullptr);
  FAIL("the job went on after a rank died");
}

int main(int argc, char** argv) {
  world = std::make_shared<distributed::MpiCommunicator>(&argc, &argv);
  doctest::Context context(argc, argv);
  const int failed = context.run();
  world.reset();  // MPI_Finalize
  return failed;
}

// Data-parallel costs, under mpirun (any number of ranks, one OpenMP thread each is the fair
// setting on a small machine):
//   bench_distributed allreduce [MAX_FLOATS] [REPEATS]   time of one float all-reduce, sizes
//       doubling from 1024 floats up to MAX_FLOATS (default 8.4 M, the default model's gradients)
//   bench_distributed train [STEPS] [SIZE] [BATCH] [HIDDEN] [LAYERS]   training steps/s of the
//       OneNIP model (defaults 5 steps, 224 px, global batch 8, hidden 256, 4 + 4 layers) on the
//       generated demo dataset; the step is timed (the loader's work, overlapped in training, is not)
// Times are the slowest rank's (what the job waits for), the mean over the timed repeats.
#include <onenip/data/demo_dataset.hpp>
#include <onenip/distributed/mpi.hpp>
#include <onenip/pipeline/trainer.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

using namespace onenip;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The slowest rank's value.
double slowest(distributed::MpiCommunicator& world, double mine) {
  double out = 0;
  MPI_Allreduce(&mine, &out, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  (void)world;
  return out;
}

int64_t arg(int argc, char** argv, int i, int64_t fallback) { return argc > i ? std::stoll(argv[i]) : fallback; }

void allreduce(distributed::MpiCommunicator& world, int64_t max_floats, int64_t repeats) {
  if (world.is_root())
    std::printf("ranks %d\n%12s %12s %12s %14s\n", world.size(), "floats", "MB per rank", "ms", "bus GB/s");
  std::vector<int64_t> sizes;
  for (int64_t n = 1024; n < max_floats; n *= 2) sizes.push_back(n);
  sizes.push_back(max_floats);
  for (int64_t n : sizes) {
    std::vector<float> buffer(size_t(n), 1.0f);
    world.all_reduce_sum(buffer.data(), buffer.size());  // warm-up: connections, pages
    world.barrier();
    auto t0 = Clock::now();
    for (int64_t r = 0; r < repeats; ++r) world.all_reduce_sum(buffer.data(), buffer.size());
    const double t = slowest(world, seconds_since(t0) / double(repeats));
    // a ring all-reduce moves 2 (N - 1) / N of the buffer through each rank's link
    const double bytes = double(n) * sizeof(float), bus = 2.0 * (world.size() - 1) / world.size() * bytes / t;
    if (world.is_root()) std::printf("%12lld %12.2f %12.3f %14.2f\n", (long long)n, bytes / 1e6, t * 1e3, bus / 1e9);
  }
}

void train(distributed::MpiCommunicator& world, int argc, char** argv) {
  const int64_t steps = arg(argc, argv, 2, 5);
  pipeline::TrainConfig c;
  c.model.image_size = arg(argc, argv, 3, 224);
  c.batch_size = int(arg(argc, argv, 4, 8));
  c.model.hidden = arg(argc, argv, 5, 256);
  c.model.ff = 4 * c.model.hidden;
  c.model.encoder_layers = c.model.decoder_layers = arg(argc, argv, 6, 4);
  c.workers = 1;
  // each rank writes the same seeded dataset into its own folder (nothing shared is assumed)
  const auto dir = std::filesystem::temp_directory_path() / ("onenip_bench_distributed_" + std::to_string(::getpid()));
  data::DemoDatasetOptions o;
  o.size = int(c.model.image_size);
  data::write_demo_dataset(dir.string(), o);
  c.data = {dir.string()};
  c.out = (dir / "run").string();
  pipeline::Trainer trainer(c, std::shared_ptr<distributed::Communicator>(&world, [](auto*) {}));
  const int64_t params = trainer.model()->num_parameters(true);
  trainer.step(trainer.loader().make_batch(0, 0));  // warm-up: first-touch allocations
  world.barrier();
  double busy = 0;
  for (int64_t s = 1; s <= steps; ++s) {
    pipeline::TrainBatch b = trainer.loader().make_batch(0, s % trainer.loader().steps_per_epoch());
    world.barrier();
    auto t0 = Clock::now();
    trainer.step(b);
    busy += seconds_since(t0);
  }
  const double per_step = slowest(world, busy / double(steps));
  if (world.is_root())
    std::printf("ranks %d, %lld px, global batch %d (%d per rank), %lld parameters (all-reduce %.1f MB per step): "
                "%.3f steps/s, %.2f images/s\n",
                world.size(), (long long)c.model.image_size, c.batch_size, c.batch_size / world.size(), (long long)params,
                double(params) * sizeof(float) / 1e6, 1.0 / per_step, double(c.batch_size) / per_step);
  std::filesystem::remove_all(dir);
}
}  // namespace

int main(int argc, char** argv) {
  distributed::MpiCommunicator world(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "allreduce") allreduce(world, arg(argc, argv, 2, 8'400'000), arg(argc, argv, 3, 20));
    else if (mode == "train") train(world, argc, argv);
    else {
      if (world.is_root()) std::fprintf(stderr, "usage: bench_distributed allreduce [MAX_FLOATS] [REPEATS] | train [STEPS] [SIZE] [BATCH] [HIDDEN] [LAYERS]\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_distributed: rank %d: %s\n", world.rank(), e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return 0;
}

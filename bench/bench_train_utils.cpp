// The per-step training utilities and weight I/O at the model's scale: AdamW step and global
// gradient clipping over 8.4M parameters (the size of OneNIP's trainable part), and safetensors
// write (with fsync) and read of the same. Memory-bound: reported as bytes/s of tensor traffic.
#include <filesystem>

#include "bench_common.hpp"

using namespace onenip;

namespace {
// 8.4M parameters split like a transformer's: a few large matrices and many small vectors.
std::vector<TensorF> model_sized_params() {
  Generator g(3);
  std::vector<TensorF> ps;
  for (int i = 0; i < 16; ++i) ps.push_back(randn<float>({512, 1024}, 0.f, 1.f, g).set_requires_grad());
  for (int i = 0; i < 64; ++i) ps.push_back(randn<float>({512}, 0.f, 1.f, g).set_requires_grad());
  for (auto& p : ps) p.set_grad(randn<float>(p.shape(), 0.f, 1e-3f, g));
  return ps;
}
int64_t total(const std::vector<TensorF>& ps) {
  int64_t n = 0;
  for (auto& p : ps) n += p.numel();
  return n;
}
std::string scratch() { return (std::filesystem::temp_directory_path() / "onenip_bench_weights.safetensors").string(); }
}  // namespace

static void BM_AdamWStep(benchmark::State& state) {
  auto ps = model_sized_params();
  optim::AdamW<float> opt(ps, {.lr = 1e-4, .weight_decay = 1e-4});
  for (auto _ : state) opt.step();
  state.SetBytesProcessed(state.iterations() * total(ps) * 7 * 4);  // read p, g, m, v; write p, m, v
}
BENCHMARK(BM_AdamWStep)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_ClipGradNorm(benchmark::State& state) {
  auto ps = model_sized_params();
  for (auto _ : state) benchmark::DoNotOptimize(optim::clip_grad_norm_(ps, 1e9));  // norm only
  state.SetBytesProcessed(state.iterations() * total(ps) * 4);
}
BENCHMARK(BM_ClipGradNorm)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_SafetensorsWrite(benchmark::State& state) {
  auto ps = model_sized_params();
  nn::NamedTensors<float> named;
  for (size_t i = 0; i < ps.size(); ++i) named.emplace_back(std::to_string(i), ps[i]);
  for (auto _ : state) io::save_safetensors(scratch(), named);  // includes fsync
  state.SetBytesProcessed(state.iterations() * total(ps) * 4);
}
BENCHMARK(BM_SafetensorsWrite)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_SafetensorsRead(benchmark::State& state) {
  auto ps = model_sized_params();
  nn::NamedTensors<float> named;
  for (size_t i = 0; i < ps.size(); ++i) named.emplace_back(std::to_string(i), ps[i]);
  io::save_safetensors(scratch(), named);
  for (auto _ : state) {
    io::SafeTensorsFile f(scratch());
    for (auto& t : f.tensors()) benchmark::DoNotOptimize(f.get<float>(t.name).data());
  }
  state.SetBytesProcessed(state.iterations() * total(ps) * 4);
  std::filesystem::remove(scratch());
}
BENCHMARK(BM_SafetensorsRead)->Unit(benchmark::kMillisecond)->UseRealTime();

// Optimisers, schedules and clipping: by hand, against PyTorch trajectories
// (tests/fixtures/export_optim_fixtures.py), state round trips, bad input.
#include "helpers.hpp"

using namespace onenip;
using testing::check_values;

namespace {

template <typename T>
using MakeOpt = std::function<std::unique_ptr<optim::Optimizer<T>>(std::vector<Tensor<T>>)>;

// Replays the 20 stored gradients (none for the bias at steps 5 and 6) through the optimiser
// and compares the parameters after every step with PyTorch's. With `sched_clip`, also clips
// the global norm to 1 before each step and steps a StepLR(5, 0.3) after it.
template <typename T>
std::unique_ptr<optim::Optimizer<T>> replay(const std::string& config, const MakeOpt<T>& make, double atol, double rtol,
                                            bool sched_clip = false) {
  auto& f = testing::fixture("optim_fixtures.safetensors");
  const std::string tag = config + (sizeof(T) == 4 ? ".f32." : ".f64.");
  Tensor<T> w = f.get<T>("init.w").set_requires_grad(), b = f.get<T>("init.b").set_requires_grad();
  Tensor<T> gw = f.get<T>("grad.w"), gb = f.get<T>("grad.b"), want_w = f.get<T>(tag + "w"), want_b = f.get<T>(tag + "b");
  TensorD present = f.get<double>("grad.b_present");
  auto opt = make({w, b});
  std::unique_ptr<optim::StepLR<T>> sched;
  if (sched_clip) sched = std::make_unique<optim::StepLR<T>>(*opt, 5, 0.3);
  for (int64_t k = 0; k < 20; ++k) {
    INFO(tag, " step ", k);
    w.set_grad(gw.select(0, k).clone());
    b.set_grad(present.data()[k] != 0 ? gb.select(0, k).clone() : Tensor<T>());
    if (sched) {
      double norm = optim::clip_grad_norm_<T>({w, b}, 1.0);
      double want_norm = f.get<double>(tag + "norm").data()[k], want_lr = f.get<double>(tag + "lr").data()[k];
      CHECK(norm == doctest::Approx(want_norm).epsilon(sizeof(T) == 4 ? 1e-6 : 1e-12));
      CHECK(opt->lr() == doctest::Approx(want_lr).epsilon(1e-14));
    }
    opt->step();
    if (sched) sched->step(k + 1);
    testing::check_close(w, want_w.select(0, k), atol, rtol);
    testing::check_close(b, want_b.select(0, k), atol, rtol);
  }
  return opt;
}

template <typename T>
void replay_all() {
  const double atol = sizeof(T) == 4 ? 2e-6 : 1e-13, rtol = sizeof(T) == 4 ? 2e-6 : 1e-12;
  using A = optim::AdamW<T>;
  using S = optim::SGD<T>;
  auto adam = [](typename A::Options o) -> MakeOpt<T> { return [o](auto ps) { return std::make_unique<A>(ps, o); }; };
  auto sgd = [](typename S::Options o) -> MakeOpt<T> { return [o](auto ps) { return std::make_unique<S>(ps, o); }; };
  auto opt = replay<T>("adamw", adam({.lr = 1e-3, .weight_decay = 1e-2}), atol, rtol);
  auto* adamw = dynamic_cast<A*>(opt.get());
  CHECK(adamw->step_count(0) == 20);
  CHECK(adamw->step_count(1) == 18);  // no gradient at two steps: skipped, as in PyTorch
  replay<T>("adamw_opts", adam({.lr = 5e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}), atol, rtol);
  replay<T>("adam_l2", adam({.lr = 1e-3, .weight_decay = 1e-2, .decoupled = false}), atol, rtol);
  replay<T>("sgd_momentum", sgd({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-2}), atol, rtol);
  replay<T>("sgd_nesterov", sgd({.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-2, .nesterov = true}), atol, rtol);
  replay<T>("sgd_dampening", sgd({.lr = 0.05, .momentum = 0.9, .dampening = 0.5}), atol, rtol);
  replay<T>("sched_clip", adam({.lr = 1e-2, .weight_decay = 1e-2}), atol, rtol, true);
}
}  // namespace

TEST_CASE("AdamW, Adam and SGD follow PyTorch step for step (float)") { replay_all<float>(); }
TEST_CASE("AdamW, Adam and SGD follow PyTorch step for step (double)") { replay_all<double>(); }

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
  CHECK(opt.step_count(0) == 1);
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

TEST_CASE("optimizer state: a fresh optimizer loaded with it continues identically") {
  auto run = [](auto make) {
    auto w = randn<float>({3, 2}).set_requires_grad(), w2 = w.detach().clone().set_requires_grad();
    auto a = make(w), b = make(w2);
    auto step = [](auto& opt, TensorF& p) {
      opt->zero_grad();
      sum(square(p) * p).backward();
      opt->step();
    };
    for (int i = 0; i < 3; ++i) step(a, w), step(b, w2);
    auto fresh = make(w2);
    fresh->load_state(b->state());
    for (int i = 0; i < 3; ++i) step(a, w), step(fresh, w2);
    testing::check_close(w, w2, 0, 0);  // bit for bit
    return std::pair(std::move(a), std::move(fresh));
  };
  auto [adam, adam2] = run([](TensorF p) { return std::make_unique<optim::AdamW<float>>(std::vector{p}, optim::AdamW<float>::Options{.lr = 0.1}); });
  CHECK(adam2->step_count(0) == 6);
  run([](TensorF p) { return std::make_unique<optim::SGD<float>>(std::vector{p}, optim::SGD<float>::Options{.lr = 0.1, .momentum = 0.9}); });

  // a state that does not fit is refused before anything changes
  auto p = zeros<float>({3, 2}).set_requires_grad();
  optim::AdamW<float> adamw({p}, {});
  optim::SGD<float> sgd({p}, {.momentum = 0.9});
  CHECK_THROWS_WITH_AS(adamw.load_state(sgd.state()), doctest::Contains("saved state is from SGD, this optimizer is AdamW"), Error);
  auto st = adam->state();
  st.slots["exp_avg"][0] = zeros<float>({2, 3});
  CHECK_THROWS_WITH_AS(adamw.load_state(st), doctest::Contains("saved 'exp_avg' of parameter 0 has shape [2, 3], the parameter [3, 2]"), Error);
  st = adam->state();
  st.slots["exp_avg"][0] = TensorF();
  CHECK_THROWS_WITH_AS(adamw.load_state(st), doctest::Contains("parameter 0 has step 6 but no exp_avg"), Error);
  st = adam->state();
  st.slots["nonsense"] = st.slots["exp_avg"];
  CHECK_THROWS_WITH_AS(adamw.load_state(st), doctest::Contains("unknown slot 'nonsense'"), Error);
  CHECK(adamw.step_count(0) == 0);
}

TEST_CASE("optimizer options are checked") {
  auto p = zeros<float>({2}).set_requires_grad();
  using A = optim::AdamW<float>;
  using S = optim::SGD<float>;
  CHECK_THROWS_WITH_AS(A({p}, {.beta1 = 1.0}), doctest::Contains("betas must be in [0, 1)"), Error);
  CHECK_THROWS_WITH_AS(A({p}, {.lr = -1}), doctest::Contains("learning rate must be >= 0"), Error);
  CHECK_THROWS_WITH_AS(S({p}, {.dampening = 0.1, .nesterov = true}), doctest::Contains("Nesterov momentum needs"), Error);
  CHECK_THROWS_WITH_AS(S({zeros<float>({2})}, {}), doctest::Contains("parameter 0 is not a leaf that requires grad"), Error);
}

TEST_CASE("StepLR: closed form base * gamma^(epoch // step), state round trip") {
  auto p = zeros<double>({1}).set_requires_grad();
  optim::AdamW<double> opt({p}, {.lr = 1e-4});
  optim::StepLR<double> sched(opt, 800, 0.1);  // the reference's schedule
  CHECK(opt.lr() == 1e-4);
  sched.step(799);
  CHECK(opt.lr() == 1e-4);
  sched.step(800);
  CHECK(opt.lr() == doctest::Approx(1e-5).epsilon(1e-15));
  sched.step();
  CHECK(sched.last_epoch() == 801);
  sched.step(1600);
  CHECK(opt.lr() == doctest::Approx(1e-6).epsilon(1e-15));
  CHECK(sched.lr_at(2399) == doctest::Approx(1e-6).epsilon(1e-15));

  optim::AdamW<double> opt2({p}, {.lr = 3.0});
  optim::StepLR<double> sched2(opt2, 800, 0.1);
  sched2.load_state(sched.state());
  CHECK(sched2.base_lr() == 1e-4);
  CHECK(opt2.lr() == opt.lr());
  CHECK_THROWS_WITH_AS(optim::StepLR<double>(opt, 0), doctest::Contains("step_size must be > 0"), Error);
  CHECK_THROWS_WITH_AS(sched2.load_state({{"kind", "CosineLR"}}), doctest::Contains("StepLR: the saved schedule is \"CosineLR\""), Error);
  CHECK_THROWS_WITH_AS(sched2.load_state({{"kind", "StepLR"}}), doctest::Contains("StepLR: invalid saved state"), Error);
}

TEST_CASE("clip_grad_norm_: global L2 norm, scaled only above max_norm") {
  auto a = zeros<double>({2}).set_requires_grad(), b = zeros<double>({1}).set_requires_grad();
  auto c = zeros<double>({3}).set_requires_grad();  // no gradient: skipped
  a.set_grad(tensor<double>({3, 0}));
  b.set_grad(tensor<double>({4}));
  CHECK(optim::clip_grad_norm_<double>({a, b, c}, 10.0) == doctest::Approx(5.0).epsilon(1e-15));
  check_values(a.grad(), {3, 0}, 0, 0);  // below max_norm: untouched
  CHECK(optim::clip_grad_norm_<double>({a, b, c}, 1.0) == doctest::Approx(5.0).epsilon(1e-15));
  check_values(a.grad(), {3 / (5 + 1e-6), 0}, 1e-15);
  check_values(b.grad(), {4 / (5 + 1e-6)}, 1e-15);
  CHECK(!c.grad().defined());
  // a large tensor: the blocked sum agrees with a plain one
  auto big = zeros<float>({100000}).set_requires_grad();
  big.set_grad(randn<float>({100000}));
  double want = 0;
  for (int64_t i = 0; i < 100000; ++i) want += double(big.grad().data()[i]) * big.grad().data()[i];
  CHECK(optim::clip_grad_norm_<float>({big}, 1e9) == doctest::Approx(std::sqrt(want)).epsilon(1e-12));
  a.set_grad(tensor<double>({std::nan(""), 1}));
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm_<double>({a}, 1.0, true), doctest::Contains("total gradient norm is nan"), Error);
}

#if defined(ONENIP_WITH_CUDA)
// The fused CUDA kernel against the CPU's: the same formula in the same order, so under the
// emulator (host compiler, same flags) bit for bit; on a GPU nvcc forms its own fused
// multiply-adds, so a few ulp per step.
template <typename T>
void adamw_cuda_vs_cpu(typename optim::AdamW<T>::Options o) {
  Generator gen(7);
  // Sizes that leave a partial thread block, and one over several blocks.
  std::vector<Tensor<T>> cpu, dev;
  for (int64_t n : {1, 37, 3001}) {
    Tensor<T> p = randn<T>({n}, T(0), T(1), gen);
    cpu.push_back(p.clone().set_requires_grad());
    dev.push_back(p.to(Device::CUDA).set_requires_grad());
  }
  optim::AdamW<T> a(cpu, o), b(dev, o);
  for (int step = 0; step < 5; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      // No gradient for the middle parameter at step 2: skipped on both devices.
      Tensor<T> g = i == 1 && step == 2 ? Tensor<T>() : randn<T>(cpu[i].shape(), T(0), T(0.1), gen);
      cpu[i].set_grad(g);
      dev[i].set_grad(g.defined() ? g.to(Device::CUDA) : g);
    }
    a.step(), b.step();
  }
#if defined(ONENIP_CUDA_EMULATED)
  const double tol = 0;
#else
  const double tol = sizeof(T) == 4 ? 1e-6 : 1e-14;
#endif
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("parameter ", i);
    CHECK(b.step_count(i) == a.step_count(i));
    testing::check_close(dev[i].cpu(), cpu[i], tol, tol);
    testing::check_close(b.exp_avg()[i].cpu(), a.exp_avg()[i], tol, tol);
    testing::check_close(b.exp_avg_sq()[i].cpu(), a.exp_avg_sq()[i], tol, tol);
  }
}

TEST_CASE("AdamW and Adam on cuda follow the CPU step for step") {
  using AF = optim::AdamW<float>;
  using AD = optim::AdamW<double>;
  adamw_cuda_vs_cpu<float>(AF::Options{.lr = 1e-2, .weight_decay = 1e-2});
  adamw_cuda_vs_cpu<float>(AF::Options{.lr = 5e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1});
  adamw_cuda_vs_cpu<float>(AF::Options{.lr = 1e-3, .weight_decay = 1e-2, .decoupled = false});
  adamw_cuda_vs_cpu<double>(AD::Options{.lr = 1e-2, .weight_decay = 1e-2});
  adamw_cuda_vs_cpu<double>(AD::Options{.lr = 1e-3, .weight_decay = 1e-2, .decoupled = false});
}
#endif

// The first step creates AdamW's moments; the second is the first whose temporaries live beside
// them, and sets the loop's peak. From then on every size is served from the cache.
TEST_CASE("a steady training loop on the cpu takes no new memory from the system after warm-up") {
  auto* cache = dynamic_cast<CachingAllocator*>(&allocator_for(Device::CPU));
  REQUIRE_MESSAGE(cache != nullptr, "the cpu's allocator is a CachingAllocator");
  Generator gen(7);
  TensorF w1 = randn<float>({16, 64}, 0.0f, 0.25f, gen).set_requires_grad(), b1 = zeros<float>({64}).set_requires_grad();
  TensorF w2 = randn<float>({64, 4}, 0.0f, 0.125f, gen).set_requires_grad();
  TensorF x = randn<float>({32, 16}, 0.0f, 1.0f, gen), y = randn<float>({32, 4}, 0.0f, 1.0f, gen);
  optim::AdamW<float> opt({w1, b1, w2}, {.lr = 1e-2});
  uint64_t after_warmup = 0;
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    TensorF loss = mean(square(matmul(gelu(matmul(x, w1) + b1), w2) - y));
    loss.backward();
    opt.step();
    if (step == 1) after_warmup = cache->upstream_allocations();
  }
  CHECK(cache->upstream_allocations() == after_warmup);
}

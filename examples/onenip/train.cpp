#include <csignal>
#include <cstdlib>
#include <fstream>

#include "commands.hpp"
#include "config_flags.hpp"
#include "workflow.hpp"

#ifdef ONENIP_WITH_MPI
#include <onenip/distributed/mpi.hpp>
#endif
#ifdef ONENIP_WITH_NCCL
#include <onenip/distributed/nccl.hpp>
#endif

namespace onenip::cli {

namespace {
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void on_stop_signal(int sig) { stop_signal = sig; }

// SIGINT / SIGTERM end the run after the current step with a checkpoint that --resume continues
// bit-exactly. A second SIGINT kills at once (SA_RESETHAND); the checkpoint on disk is whole
// either way, as every write is atomic.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Trainer::should_stop for one process. Test-only: ONENIP_FAULT_STEP="<N>:KILL|INT|TERM" raises
// that signal in the process after global step N, so tests kill or interrupt a run at an exact step.
std::function<bool(int64_t)> stop_on_signal() {
  install_stop_handlers();
  int64_t fault_step = -1;
  int fault_signal = 0;
  if (const char* env = std::getenv("ONENIP_FAULT_STEP"); env != nullptr && *env != '\0') {
    const std::string v = env;
    const size_t colon = v.find(':');
    const std::string name = colon == std::string::npos ? "" : v.substr(colon + 1);
    fault_signal = name == "KILL" ? SIGKILL : name == "INT" ? SIGINT : name == "TERM" ? SIGTERM : 0;
    ONENIP_CHECK(fault_signal != 0, "ONENIP_FAULT_STEP='", v, "': expected <step>:KILL|INT|TERM");
    fault_step = std::atoll(v.c_str());
  }
  return [=](int64_t global_step) {
    if (global_step == fault_step) std::raise(fault_signal);
    return stop_signal != 0;
  };
}
}  // namespace

Action add_train(CLI::App& app) {
  auto config_file = std::make_shared<std::string>();
  auto resume = std::make_shared<bool>(false);
  app.add_option("--config", *config_file, "JSON config (as saved in a run folder); flags override it")->check(CLI::ExistingFile);
  ConfigFlags flags(app, pipeline::TrainConfig{});
  app.get_option("--data")->required();
  app.add_flag("--resume", *resume, "continue from OUT/checkpoint.safetensors");
  return [=]() {
    pipeline::TrainConfig c;
    if (!config_file->empty()) {
      try {
        std::ifstream f(*config_file);
        c.update(nlohmann::json::parse(f));
      } catch (const std::exception& e) {
        onenip::detail::fail("--config '", *config_file, "': ", e.what());
      }
    }
    flags.apply(c);  // flags given on the command line override the file
#ifdef ONENIP_WITH_MPI
    if (distributed::MpiCommunicator::launched()) {  // started by mpirun: one rank of a data-parallel job
      auto world = std::make_shared<distributed::MpiCommunicator>();
      try {
        std::shared_ptr<distributed::Communicator> comm = world;
#ifdef ONENIP_WITH_NCCL
        // on GPUs the gradients are summed by NCCL on the devices (one GPU per rank, bootstrapped
        // through MPI); without NCCL, MPI sums them through the host
        if (c.device == Device::CUDA) comm = std::make_shared<distributed::NcclCommunicator>(*world);
#endif
        train_run(c, *resume, comm);
      } catch (const std::exception& e) {
        // the other ranks wait in a collective for this one: stop the whole job
        std::fprintf(stderr, "onenip: rank %d: error: %s\n", world->rank(), e.what());
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      return 0;
    }
#endif
    // Stopped by a signal: exit 128 + its number (130 SIGINT, 143 SIGTERM), as a shell reports a
    // command a signal ended, so `onenip train ... && onenip eval ...` does not go on to evaluate.
    if (!train_run(c, *resume, nullptr, stop_on_signal())) return 128 + int(stop_signal);
    return 0;
  };
}

}  // namespace onenip::cli

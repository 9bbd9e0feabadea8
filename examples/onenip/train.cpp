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
    train_run(c, *resume);
    return 0;
  };
}

}  // namespace onenip::cli

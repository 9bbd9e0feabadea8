// Fuzz target: loading a training checkpoint (the safetensors container, then its metadata as
// JSON, the model's tensors, the optimiser's state, the schedule and the random generators),
// and read_checkpoint_metadata.
#include "checkpoint_net.hpp"
#include "fuzz_target.hpp"

ONENIP_FUZZ_TARGET(checkpoint) {
  static const onenip::fuzz::Scratch scratch;
  const std::string path = scratch.write("checkpoint.safetensors", data, size);
  try {
    (void)onenip::io::read_checkpoint_metadata(path);
  } catch (const onenip::Error&) {
  }
  try {
    onenip::fuzz::CheckpointRun run;
    onenip::io::TrainingState<float> s = run.state();
    onenip::io::load_checkpoint(path, s);
  } catch (const onenip::Error&) {
  }
  return 0;
}

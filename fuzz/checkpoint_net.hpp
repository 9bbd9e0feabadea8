// The small model the checkpoint fuzz target loads into (and fuzz/make_seeds.cpp saves from):
// two parameters and a buffer, trained by AdamW with a StepLR schedule and one named generator.
#pragma once

#include <onenip/io/checkpoint.hpp>
#include <onenip/optim/adamw.hpp>

namespace onenip::fuzz {

struct CheckpointNet : nn::Module<float> {
  TensorF weight, bias, steps;
  CheckpointNet() {
    weight = register_parameter("weight", zeros<float>({3, 2}));
    bias = register_parameter("bias", zeros<float>({3}));
    steps = register_buffer("steps", zeros<float>({}));
  }
};

// A model with its optimiser, schedule and generator, wired into one TrainingState.
struct CheckpointRun {
  CheckpointNet net;
  optim::AdamW<float> opt{net.parameters(), {.lr = 1e-3}};
  optim::StepLR<float> sched{opt, 10, 0.5};
  Generator noise{1};
  io::TrainingState<float> state() {
    io::TrainingState<float> s;
    s.model = &net, s.optimizer = &opt, s.schedule = &sched, s.generators = {{"noise", &noise}};
    return s;
  }
};

}  // namespace onenip::fuzz

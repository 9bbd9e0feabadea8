/// \file
/// The whole library: `#include <onenip/onenip.hpp>`.
///
/// Layers, each using only those before it (docs/design.md):
///   tensor, core, random -> autograd -> kernels (dispatch to kernels/cpu, and cuda/) -> ops
///   -> gradcheck, optim, io, nn -> models -> data, eval -> pipeline
/// This header includes the library up to the backbones and the data helpers; the OneNIP model
/// and the pipeline have their own headers (models/onenip.hpp, pipeline/*.hpp).
#pragma once

#include "tensor.hpp"
#include "random.hpp"
#include "autograd.hpp"
#include "core/parallel.hpp"
#include "ops/views.hpp"
#include "ops/creation.hpp"
#include "ops/elementwise.hpp"
#include "ops/activations.hpp"
#include "ops/reduce.hpp"
#include "ops/matmul.hpp"
#include "ops/join.hpp"
#include "ops/conv.hpp"
#include "ops/pool.hpp"
#include "ops/resize.hpp"
#include "ops/softmax.hpp"
#include "ops/linear.hpp"
#include "ops/norm.hpp"
#include "ops/dropout.hpp"
#include "ops/attention.hpp"
#include "print.hpp"
#include "gradcheck.hpp"
#include "optim/sgd.hpp"
#include "optim/adamw.hpp"
#include "optim/schedule.hpp"
#include "optim/clip.hpp"
#include "io/safetensors.hpp"
#include "nn/module.hpp"
#include "nn/serialize.hpp"
#include "nn/losses.hpp"
#include "io/checkpoint.hpp"
#include "io/image.hpp"
#include "models/backbone.hpp"
#include "data/transforms.hpp"
#include "data/colormap.hpp"
#include "data/dataset.hpp"
#include "data/backbone_input.hpp"

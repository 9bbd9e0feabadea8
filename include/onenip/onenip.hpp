// The whole library: #include <onenip/onenip.hpp>.
//
// Layers, each using only those below it:
//   tensor, random -> autograd -> ops -> gradcheck, optim, io -> data
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
#include "io/safetensors.hpp"
#include "io/image.hpp"
#include "data/transforms.hpp"
#include "data/colormap.hpp"
#include "data/dataset.hpp"

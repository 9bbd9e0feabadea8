// Indexing kernels: rows picked by an index list (index_select) and elements picked along one
// dim (gather), each with its adjoint that adds back (index_add, scatter_add). Index values are
// checked by the op before the kernel runs.
#pragma once

#include "problems/index.hpp"
#include "dispatch.hpp"

#include "cpu/index.hpp"

namespace onenip::kernels {

ONENIP_KERNEL(index_select, IndexSelectProblem)
ONENIP_KERNEL(index_add, IndexSelectProblem)
ONENIP_KERNEL(gather, GatherProblem)
ONENIP_KERNEL(scatter_add, GatherProblem)

}  // namespace onenip::kernels

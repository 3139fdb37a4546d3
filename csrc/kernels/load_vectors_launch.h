// Host launcher of the load_vectors kernel, shared by the CUDA backend (load_vectors_cuda.cu)
// and the SIMT emulator's test library (simt/load_vectors_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "kernels/launch.h"
#include "kernels/load_vectors.cuh"
#include "op_prepare.h"

namespace phnet {

inline void launch_load_vectors(const LoadVectorsArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.phase);
  AT_DISPATCH_FLOATING_TYPES(p.phase.scalar_type(), "phnet::load_vectors_kernel", [&] {
    PHNET_LAUNCH(load_vectors_kernel<scalar_t>, grid_blocks(launch, d.B * d.n * d.n * d.n),
                 launch.block_threads(), 0, launch.stream())(
        p.phase.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(), p.Fe.size(0) != 1,
        p.f.data_ptr<scalar_t>(), d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
}

}  // namespace phnet

// Host launcher of the stiffness_apply kernel, shared by the CUDA backend
// (stiffness_apply_cuda.cu) and the SIMT emulator's test library (simt/stiffness_apply_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "kernels/launch.h"
#include "kernels/stiffness_apply.cuh"
#include "op_prepare.h"

namespace phnet {

inline void launch_stiffness_apply(const StiffnessApplyArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::stiffness_apply_kernel", [&] {
    PHNET_LAUNCH(stiffness_apply_kernel<scalar_t>, grid_blocks(launch, d.B * d.n * d.n * d.n),
                 launch.block_threads(), 0, launch.stream())(
        p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(), p.Ke.data_ptr<scalar_t>(),
        p.Ke.size(0) != 1, p.y.data_ptr<scalar_t>(), d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
}

}  // namespace phnet

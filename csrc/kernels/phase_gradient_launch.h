// Host launcher of the phase_gradient kernel, shared by the CUDA backend
// (phase_gradient_cuda.cu) and the SIMT emulator's test library (simt/phase_gradient_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "kernels/launch.h"
#include "kernels/phase_gradient.cuh"
#include "op_prepare.h"

namespace phnet {

inline void launch_phase_gradient(const PhaseGradientArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::phase_gradient_kernel", [&] {
    PHNET_LAUNCH(phase_gradient_kernel<scalar_t>, grid_blocks(launch, p.g.numel()),
                 launch.block_threads(), 0, launch.stream())(
        p.a.data_ptr<scalar_t>(), p.u.data_ptr<scalar_t>(), p.b.data_ptr<scalar_t>(),
        p.Ke.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(), p.Ke.size(0) != 1, p.Fe.size(0) != 1,
        p.g.data_ptr<scalar_t>(), d.B, int(d.L), int(d.J), int(d.M), int(d.n));
    launch.check();
  });
}

}  // namespace phnet

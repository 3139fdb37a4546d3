// Host launchers of the energy_loss kernels, shared by the CUDA backend (energy_loss_cuda.cu)
// and the SIMT emulator's test library (simt/energy_loss_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/sum.h>

#include <algorithm>

#include "kernels/energy_loss.cuh"
#include "kernels/launch.h"
#include "op_prepare.h"

namespace phnet {

inline void launch_energy_loss(const EnergyLossArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  const unsigned int bx = std::min<unsigned int>(grid_blocks(launch, d.n * d.n * d.n), 1024);
  const unsigned int by = static_cast<unsigned int>(std::min<int64_t>(d.B, launch.max_grid_dim()));
  const at::Tensor partial =  // [B, bx, L]: every entry is written by one block
      launch.empty_output({d.B, int64_t(bx), d.L}, p.u.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss_kernel", [&] {
    PHNET_LAUNCH(energy_loss_kernel<scalar_t>, dim3(bx, by), launch.block_threads(), 0,
                 launch.stream())(p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(),
                                  p.Ke.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(),
                                  p.Ke.size(0) != 1, p.Fe.size(0) != 1, partial.data_ptr<double>(),
                                  d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
  p.energy.copy_(at::sum(partial, {1}));  // [B, L], summed in double, rounded once
}

inline void launch_energy_loss_backward(const EnergyLossBackwardArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss_backward_kernel", [&] {
    PHNET_LAUNCH(energy_loss_backward_kernel<scalar_t>, grid_blocks(launch, d.B * d.n * d.n * d.n),
                 launch.block_threads(), 0, launch.stream())(
        p.grad.data_ptr<scalar_t>(), p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(),
        p.Ke.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(), p.Ke.size(0) != 1, p.Fe.size(0) != 1,
        p.out.data_ptr<scalar_t>(), d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
}

}  // namespace phnet

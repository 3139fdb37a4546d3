// Host launcher of the homogenized_tensor kernel, shared by the CUDA backend
// (homogenized_tensor_cuda.cu) and the SIMT emulator's test library
// (simt/homogenized_tensor_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/einsum.h>
#include <ATen/ops/sum.h>

#include <algorithm>

#include "kernels/homogenized_tensor.cuh"
#include "kernels/launch.h"
#include "op_prepare.h"

namespace phnet {

inline void launch_homogenized_tensor(const HomogenizedTensorArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  const unsigned int bx = std::min<unsigned int>(grid_blocks(launch, d.n * d.n * d.n), 1024);
  const unsigned int by = static_cast<unsigned int>(std::min<int64_t>(d.B, launch.max_grid_dim()));
  const int64_t width = d.L * d.L + d.M;
  const at::Tensor partial =  // [B, bx, L*L + M]: every entry is written by one block
      launch.empty_output({d.B, int64_t(bx), width}, p.u.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::homogenized_tensor_kernel", [&] {
    PHNET_LAUNCH(homogenized_tensor_kernel<scalar_t>, dim3(bx, by), launch.block_threads(), 0,
                 launch.stream())(p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(),
                                  p.Ke.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(),
                                  p.Ke.size(0) != 1, p.Fe.size(0) != 1, partial.data_ptr<double>(),
                                  d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
  const at::Tensor totals = at::sum(partial, {1});  // [B, L*L + M]
  const at::Tensor fluct = totals.narrow(1, 0, d.L * d.L).view({d.B, d.L, d.L});
  const at::Tensor phase_total = totals.narrow(1, d.L * d.L, d.M);  // [B, M]
  const at::Tensor Ce = p.Ce.expand({d.B, d.M, d.L, d.L});
  // Summed in double, rounded once to the dtype of u.
  p.out.copy_(at::add(fluct, at::einsum("bm,bmpq->bpq", {phase_total, Ce})));
}

}  // namespace phnet

// Host launcher of the element_fields kernel, shared by the CUDA backend
// (element_fields_cuda.cu) and the SIMT emulator's test library (simt/element_fields_simt.cpp).
#pragma once

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>

#include "kernels/element_fields.cuh"
#include "kernels/launch.h"
#include "op_prepare.h"

namespace phnet {

inline void launch_element_fields(const ElementFieldsArgs& p) {
  const OpDims& d = p.d;
  const LaunchContext launch(p.u);
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::element_fields_kernel", [&] {
    PHNET_LAUNCH(element_fields_kernel<scalar_t>, grid_blocks(launch, d.B * d.L * d.n * d.n * d.n),
                 launch.block_threads(), 0, launch.stream())(
        p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(), p.C.data_ptr<scalar_t>(),
        p.macro_strain.data_ptr<scalar_t>(), p.C.size(0) != 1, p.strain.data_ptr<scalar_t>(),
        p.stress.data_ptr<scalar_t>(), d.B, int(d.L), int(d.M), int(d.n));
    launch.check();
  });
}

}  // namespace phnet

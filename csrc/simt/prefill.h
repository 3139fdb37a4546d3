// Outputs that an emulated op's kernel (or launcher) must overwrite completely are filled with
// NaN before the launch when the tests ask for it (simt::Config::prefill_nan), so that an entry
// the CUDA code misses shows up as NaN. Outputs the kernels accumulate into with atomics stay
// zero-filled, as op_prepare allocates them; a missed voxel there shows up as a wrong sum.
#pragma once

#include <ATen/core/Tensor.h>

#include <limits>

#include "simt/emulator.h"

namespace phnet::simt {

inline void prefill_output(const at::Tensor& out) {  // any shape, float32 or float64
  if (config().prefill_nan) out.fill_(std::numeric_limits<double>::quiet_NaN());
}

}  // namespace phnet::simt

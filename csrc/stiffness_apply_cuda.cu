// CUDA backend of phnet::stiffness_apply: the entry point (prepare, launch) and its registration.
// The kernel and its launcher live in kernels/ and are shared with the SIMT emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/stiffness_apply_launch.h"
#include "op_prepare.h"

namespace phnet {

at::Tensor stiffness_apply_cuda(const at::Tensor& u,      // [B, L, 3, n, n, n]
                                const at::Tensor& phase,  // [B, M, n, n, n]
                                const at::Tensor& Ke) {   // [B|1, M, 24, 24]
  const StiffnessApplyArgs p = prepare_stiffness_apply(u, phase, Ke, c10::DeviceType::CUDA);
  if (!p.empty()) launch_stiffness_apply(p);
  return p.y;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("stiffness_apply", &stiffness_apply_cuda); }

}  // namespace phnet

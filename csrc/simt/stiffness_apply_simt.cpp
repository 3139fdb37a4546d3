// phnet_simt::stiffness_apply: the CUDA kernel of phnet::stiffness_apply
// (kernels/stiffness_apply.cuh, launched by kernels/stiffness_apply_launch.h) run by the SIMT
// emulator on CPU tensors. Test-only library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/stiffness_apply_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

at::Tensor stiffness_apply_simt(const at::Tensor& u,      // [B, L, 3, n, n, n]
                                const at::Tensor& phase,  // [B, M, n, n, n]
                                const at::Tensor& Ke) {   // [B|1, M, 24, 24]
  const StiffnessApplyArgs p = prepare_stiffness_apply(u, phase, Ke, c10::DeviceType::CPU);
  if (!p.empty()) launch_stiffness_apply(p);  // y: zero-filled, the kernel adds into it
  return p.y;
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) { m.impl("stiffness_apply", &stiffness_apply_simt); }

}  // namespace phnet::simt

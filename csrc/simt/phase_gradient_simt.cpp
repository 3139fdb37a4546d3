// phnet_simt::phase_gradient: the CUDA kernel of phnet::phase_gradient (kernels/phase_gradient.cuh,
// launched by kernels/phase_gradient_launch.h) run by the SIMT emulator on CPU tensors. Test-only
// library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/phase_gradient_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

at::Tensor phase_gradient_simt(const at::Tensor& a,     // [B, L, 3, n, n, n]
                               const at::Tensor& u,     // [B, L, 3, n, n, n]
                               const at::Tensor& b,     // [B, J, 3, n, n, n]
                               const at::Tensor& Ke,    // [B|1, M, 24, 24]
                               const at::Tensor& Fe) {  // [B|1, M, 24, J]
  const PhaseGradientArgs p = prepare_phase_gradient(a, u, b, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) {
    prefill_output(p.g);  // zero-filled for the CPU kernel; the CUDA kernel writes every entry
    launch_phase_gradient(p);
  }
  return p.g;
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) { m.impl("phase_gradient", &phase_gradient_simt); }

}  // namespace phnet::simt

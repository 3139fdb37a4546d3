// CUDA backend of phnet::phase_gradient: the entry point (prepare, launch) and its registration.
// The kernel and its launcher live in kernels/ and are shared with the SIMT emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/phase_gradient_launch.h"
#include "op_prepare.h"

namespace phnet {

at::Tensor phase_gradient_cuda(const at::Tensor& a,     // [B, L, 3, n, n, n]
                               const at::Tensor& u,     // [B, L, 3, n, n, n]
                               const at::Tensor& b,     // [B, J, 3, n, n, n]
                               const at::Tensor& Ke,    // [B|1, M, 24, 24]
                               const at::Tensor& Fe) {  // [B|1, M, 24, J]
  const PhaseGradientArgs p = prepare_phase_gradient(a, u, b, Ke, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_phase_gradient(p);
  return p.g;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("phase_gradient", &phase_gradient_cuda); }

}  // namespace phnet

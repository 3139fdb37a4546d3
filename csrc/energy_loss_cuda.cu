// CUDA backend of phnet::energy_loss: the entry point (prepare, launch) and its registration. The
// kernel and its launcher live in kernels/ and are shared with the SIMT emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/energy_loss_launch.h"
#include "op_prepare.h"

namespace phnet {

at::Tensor energy_loss_cuda(const at::Tensor& u,      // [B, L, 3, n, n, n]
                            const at::Tensor& phase,  // [B, M, n, n, n]
                            const at::Tensor& Ke,     // [B|1, M, 24, 24]
                            const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossArgs p = prepare_energy_loss(u, phase, Ke, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_energy_loss(p);
  return p.energy;
}

at::Tensor energy_loss_backward_cuda(const at::Tensor& grad,   // [B, L]
                                     const at::Tensor& u,      // [B, L, 3, n, n, n]
                                     const at::Tensor& phase,  // [B, M, n, n, n]
                                     const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                     const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossBackwardArgs p =
      prepare_energy_loss_backward(grad, u, phase, Ke, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_energy_loss_backward(p);
  return p.out;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) {
  m.impl("energy_loss", &energy_loss_cuda);
  m.impl("energy_loss_backward", &energy_loss_backward_cuda);
}

}  // namespace phnet

// phnet_simt::energy_loss: the CUDA kernels of phnet::energy_loss (kernels/energy_loss.cuh,
// launched by kernels/energy_loss_launch.h) run by the SIMT emulator on CPU tensors. Test-only
// library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/energy_loss_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

at::Tensor energy_loss_simt(const at::Tensor& u,      // [B, L, 3, n, n, n]
                            const at::Tensor& phase,  // [B, M, n, n, n]
                            const at::Tensor& Ke,     // [B|1, M, 24, 24]
                            const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossArgs p = prepare_energy_loss(u, phase, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) {
    prefill_output(p.energy);  // written by the launcher from the kernel's partial sums
    launch_energy_loss(p);
  }
  return p.energy;
}

at::Tensor energy_loss_backward_simt(const at::Tensor& grad,   // [B, L]
                                     const at::Tensor& u,      // [B, L, 3, n, n, n]
                                     const at::Tensor& phase,  // [B, M, n, n, n]
                                     const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                     const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossBackwardArgs p =
      prepare_energy_loss_backward(grad, u, phase, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_energy_loss_backward(p);  // out: zero-filled, the kernel adds into it
  return p.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) {
  m.impl("energy_loss", &energy_loss_simt);
  m.impl("energy_loss_backward", &energy_loss_backward_simt);
}

}  // namespace phnet::simt

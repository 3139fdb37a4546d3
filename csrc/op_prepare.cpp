#include "op_prepare.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <cstdlib>
#include <cstring>

#include "walsh_basis.h"

namespace phnet {
namespace {

// The CPU kernels take the Walsh path for element matrices of the hexahedron's form unless
// $PHNET_ELEMENT_MATH is "dense" (read on every call, so tests can compare both paths in one
// process).
bool walsh_path_enabled(c10::DeviceType backend) {
  if (backend != c10::DeviceType::CPU) return false;
  const char* choice = std::getenv("PHNET_ELEMENT_MATH");
  return choice == nullptr || std::strcmp(choice, "dense") != 0;
}

// The Walsh values of Ke and Fe for the CPU kernels of the energy ops; both or neither (the
// kernels take the Walsh path only with both).
template <typename Args>
void set_walsh_values(Args& p, c10::DeviceType backend) {
  if (!walsh_path_enabled(backend) || p.Ke.numel() == 0) return;
  at::Tensor Kt = walsh_stiffness_values(p.Ke);
  at::Tensor Ft = Kt.defined() ? walsh_load_values(p.Fe) : at::Tensor();
  if (Ft.defined()) {
    p.Kt = Kt;
    p.Ft = Ft;
  }
}

}  // namespace

StiffnessApplyArgs prepare_stiffness_apply(const at::Tensor& u, const at::Tensor& phase,
                                           const at::Tensor& Ke, c10::DeviceType backend) {
  const OpDims d = validate_stiffness_apply(u, phase, Ke);
  check_backend("stiffness_apply", "u", u, backend);
  StiffnessApplyArgs p{d, u.contiguous(), phase.contiguous(), Ke.contiguous(), {}};
  p.y = at::zeros_like(p.u);
  if (walsh_path_enabled(backend)) p.Kt = walsh_stiffness_values(p.Ke);
  return p;
}

LoadVectorsArgs prepare_load_vectors(const at::Tensor& phase, const at::Tensor& Fe,
                                     c10::DeviceType backend) {
  const OpDims d = validate_load_vectors(phase, Fe);
  check_backend("load_vectors", "phase", phase, backend);
  LoadVectorsArgs p{d, phase.contiguous(), Fe.contiguous(), {}};
  p.f = at::zeros({d.B, d.L, 3, d.n, d.n, d.n}, p.phase.options());
  return p;
}

EnergyLossArgs prepare_energy_loss(const at::Tensor& u, const at::Tensor& phase,
                                   const at::Tensor& Ke, const at::Tensor& Fe,
                                   c10::DeviceType backend) {
  const OpDims d = validate_energy("energy_loss", u, phase, Ke, Fe);
  check_backend("energy_loss", "u", u, backend);
  EnergyLossArgs p{d, u.contiguous(), phase.contiguous(), Ke.contiguous(), Fe.contiguous(), {}};
  p.energy = at::empty({d.B, d.L}, p.u.options());
  set_walsh_values(p, backend);
  return p;
}

EnergyLossBackwardArgs prepare_energy_loss_backward(const at::Tensor& grad, const at::Tensor& u,
                                                    const at::Tensor& phase, const at::Tensor& Ke,
                                                    const at::Tensor& Fe, c10::DeviceType backend) {
  const OpDims d = validate_energy_backward(grad, u, phase, Ke, Fe);
  check_backend("energy_loss_backward", "u", u, backend);
  EnergyLossBackwardArgs p{
      d, grad.contiguous(), u.contiguous(), phase.contiguous(), Ke.contiguous(), Fe.contiguous(),
      {}};
  p.out = at::zeros_like(p.u);
  set_walsh_values(p, backend);
  return p;
}

HomogenizedTensorArgs prepare_homogenized_tensor(const at::Tensor& u, const at::Tensor& phase,
                                                 const at::Tensor& Ke, const at::Tensor& Fe,
                                                 const at::Tensor& Ce, c10::DeviceType backend) {
  const OpDims d = validate_homogenized_tensor(u, phase, Ke, Fe, Ce);
  check_backend("homogenized_tensor", "u", u, backend);
  HomogenizedTensorArgs p{d,
                          u.contiguous(),
                          phase.contiguous(),
                          Ke.contiguous(),
                          Fe.contiguous(),
                          Ce.to(at::kDouble).contiguous(),
                          {}};
  p.out = at::empty({d.B, d.L, d.L}, p.u.options());
  return p;
}

PhaseGradientArgs prepare_phase_gradient(const at::Tensor& a, const at::Tensor& u,
                                         const at::Tensor& b, const at::Tensor& Ke,
                                         const at::Tensor& Fe, c10::DeviceType backend) {
  const OpDims d = validate_phase_gradient(a, u, b, Ke, Fe);
  check_backend("phase_gradient", "u", u, backend);
  PhaseGradientArgs p{
      d, a.contiguous(), u.contiguous(), b.contiguous(), Ke.contiguous(), Fe.contiguous(), {}};
  p.g = at::zeros({d.B, d.M, d.n, d.n, d.n}, p.u.options());
  return p;
}

ElementFieldsArgs prepare_element_fields(const at::Tensor& u, const at::Tensor& phase,
                                         const at::Tensor& C, const at::Tensor& macro_strain,
                                         c10::DeviceType backend) {
  const OpDims d = validate_element_fields(u, phase, C, macro_strain);
  check_backend("element_fields", "u", u, backend);
  ElementFieldsArgs p{
      d, u.contiguous(), phase.contiguous(), C.contiguous(), macro_strain.contiguous(), {}, {}};
  p.strain = at::empty({d.B, d.L, kVoigt, d.n, d.n, d.n}, p.u.options());
  p.stress = at::empty({d.B, d.L, kVoigt, d.n, d.n, d.n}, p.u.options());
  return p;
}

}  // namespace phnet

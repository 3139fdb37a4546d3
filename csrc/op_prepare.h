// The host prologue of every op, shared by its CPU and CUDA entry points: validate the
// arguments (op_inputs.h), check that they are on the backend's device, make them contiguous
// (the kernels index raw pointers) and allocate the outputs. Every backend entry is then
//
//   const <Op>Args p = prepare_<op>(arguments..., backend);
//   if (!p.empty()) launch_<op>(p);  // the launcher only computes
//   return p.<outputs>;
//
// so both backends accept and reject the same inputs and return outputs of the same shape,
// dtype and initial contents. Defined in op_prepare.cpp, which nvcc never compiles.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include "op_inputs.h"

namespace phnet {

// stiffness_apply: y = K u.
struct StiffnessApplyArgs {
  OpDims d;
  at::Tensor u, phase, Ke;  // contiguous inputs
  at::Tensor y;             // [B, L, 3, n, n, n], zero-filled: the kernels scatter-add into it
  at::Tensor
      Kt;  // [B|1, M, 171] Walsh values of Ke (CPU; undefined: Ke not of the hexahedron's form)
  bool empty() const { return y.numel() == 0; }
};
StiffnessApplyArgs prepare_stiffness_apply(const at::Tensor& u, const at::Tensor& phase,
                                           const at::Tensor& Ke, c10::DeviceType backend);

// load_vectors: f_l = sum_e Fe_e[:, l].
struct LoadVectorsArgs {
  OpDims d;
  at::Tensor phase, Fe;  // contiguous inputs
  at::Tensor f;          // [B, L, 3, n, n, n], zero-filled: the kernels scatter-add into it
  bool empty() const { return f.numel() == 0; }
};
LoadVectorsArgs prepare_load_vectors(const at::Tensor& phase, const at::Tensor& Fe,
                                     c10::DeviceType backend);

// energy_loss: u_l^T K u_l / 2 - u_l^T f_l.
struct EnergyLossArgs {
  OpDims d;
  at::Tensor u, phase, Ke, Fe;  // contiguous inputs
  at::Tensor energy;            // [B, L], dtype of u: every entry is written by the launcher
  at::Tensor Kt, Ft;  // [B|1, M, 171], [B|1, M, 9, L] Walsh values (CPU; undefined: dense path)
  bool empty() const { return energy.numel() == 0; }
};
EnergyLossArgs prepare_energy_loss(const at::Tensor& u, const at::Tensor& phase,
                                   const at::Tensor& Ke, const at::Tensor& Fe,
                                   c10::DeviceType backend);

// energy_loss_backward: grad[b, l] * (K u_l - f_l).
struct EnergyLossBackwardArgs {
  OpDims d;
  at::Tensor grad, u, phase, Ke, Fe;  // contiguous inputs
  at::Tensor out;     // [B, L, 3, n, n, n], zero-filled: the kernels scatter-add into it
  at::Tensor Kt, Ft;  // [B|1, M, 171], [B|1, M, 9, L] Walsh values (CPU; undefined: dense path)
  bool empty() const { return out.numel() == 0; }
};
EnergyLossBackwardArgs prepare_energy_loss_backward(const at::Tensor& grad, const at::Tensor& u,
                                                    const at::Tensor& phase, const at::Tensor& Ke,
                                                    const at::Tensor& Fe, c10::DeviceType backend);

// homogenized_tensor: the energy form of C^H summed over the cell.
struct HomogenizedTensorArgs {
  OpDims d;
  at::Tensor u, phase, Ke, Fe;  // contiguous inputs
  at::Tensor Ce;                // [B|1, M, L, L] as float64 (the volume term is summed in double)
  at::Tensor out;               // [B, L, L], dtype of u: every entry is written by the launcher
  bool empty() const { return out.numel() == 0; }
};
HomogenizedTensorArgs prepare_homogenized_tensor(const at::Tensor& u, const at::Tensor& phase,
                                                 const at::Tensor& Ke, const at::Tensor& Fe,
                                                 const at::Tensor& Ce, c10::DeviceType backend);

// phase_gradient: per-voxel, per-phase sensitivities.
struct PhaseGradientArgs {
  OpDims d;
  at::Tensor a, u, b, Ke, Fe;  // contiguous inputs
  at::Tensor g;  // [B, M, n, n, n], zero-filled (the CPU kernel accumulates load chunks)
  bool empty() const { return g.numel() == 0; }
};
PhaseGradientArgs prepare_phase_gradient(const at::Tensor& a, const at::Tensor& u,
                                         const at::Tensor& b, const at::Tensor& Ke,
                                         const at::Tensor& Fe, c10::DeviceType backend);

// element_fields: voxel strain and stress.
struct ElementFieldsArgs {
  OpDims d;
  at::Tensor u, phase, C, macro_strain;  // contiguous inputs
  at::Tensor strain, stress;  // [B, L, 6, n, n, n] each: every entry is written by the launcher
  bool empty() const { return strain.numel() == 0; }
};
ElementFieldsArgs prepare_element_fields(const at::Tensor& u, const at::Tensor& phase,
                                         const at::Tensor& C, const at::Tensor& macro_strain,
                                         c10::DeviceType backend);

}  // namespace phnet

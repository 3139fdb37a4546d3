// Argument validation of each op, run by its prologue (op_prepare.cpp) for both backends, so
// that the CPU and CUDA kernels accept and reject exactly the same inputs with the same
// messages.
#pragma once

#include "checks.h"
#include "element_math.h"

namespace phnet {

struct OpDims {
  int64_t B;  // batch
  int64_t L;  // load cases of the field argument(s)
  int64_t M;  // phases
  int64_t n;  // grid size
  int64_t J;  // load columns of Fe (where there is one)
};

inline PhaseDims validate_phase_against(const char* op, const at::Tensor& phase, const FieldDims& f,
                                        const char* field_name, const at::Tensor& field) {
  const PhaseDims p = check_phase(op, "phase", phase);
  check_like(op, "phase", phase, field_name, field);
  check_grid(op, "phase", p.B, p.n, field_name, f.B, f.n);
  return p;
}

// u [B, L, 3, n, n, n], phase [B, M, n, n, n], Ke [B|1, M, 24, 24]
inline OpDims validate_stiffness_apply(const at::Tensor& u, const at::Tensor& phase,
                                       const at::Tensor& Ke) {
  const char* op = "stiffness_apply";
  const FieldDims f = check_field(op, "u", u);
  const PhaseDims p = validate_phase_against(op, phase, f, "u", u);
  check_like(op, "Ke", Ke, "u", u);
  check_matrices(op, "Ke", Ke, f.B, p.M, kElementDofs, kElementDofs);
  return {f.B, f.L, p.M, f.n, 0};
}

// phase [B, M, n, n, n], Fe [B|1, M, 24, L]
inline OpDims validate_load_vectors(const at::Tensor& phase, const at::Tensor& Fe) {
  const char* op = "load_vectors";
  const PhaseDims p = check_phase(op, "phase", phase);
  check_like(op, "Fe", Fe, "phase", phase);
  const int64_t J = check_matrices(op, "Fe", Fe, p.B, p.M, kElementDofs, -1);
  return {p.B, J, p.M, p.n, J};
}

// u [B, L, 3, n, n, n], phase, Ke [B|1, M, 24, 24] (symmetric), Fe [B|1, M, 24, L]
inline OpDims validate_energy(const char* op, const at::Tensor& u, const at::Tensor& phase,
                              const at::Tensor& Ke, const at::Tensor& Fe) {
  const FieldDims f = check_field(op, "u", u);
  const PhaseDims p = validate_phase_against(op, phase, f, "u", u);
  check_like(op, "Ke", Ke, "u", u);
  check_like(op, "Fe", Fe, "u", u);
  check_matrices(op, "Ke", Ke, f.B, p.M, kElementDofs, kElementDofs);
  check_matrices(op, "Fe", Fe, f.B, p.M, kElementDofs, f.L);
  check_symmetric(op, "Ke", Ke);
  return {f.B, f.L, p.M, f.n, f.L};
}

// grad [B, L] plus the energy_loss arguments.
inline OpDims validate_energy_backward(const at::Tensor& grad, const at::Tensor& u,
                                       const at::Tensor& phase, const at::Tensor& Ke,
                                       const at::Tensor& Fe) {
  const char* op = "energy_loss_backward";
  const OpDims d = validate_energy(op, u, phase, Ke, Fe);
  check_like(op, "grad", grad, "u", u);
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == d.B && grad.size(1) == d.L, "phnet::", op,
              ": argument 'grad' must be [", d.B, ", ", d.L,
              "] (one value per sample and load case), got ", describe(grad));
  return d;
}

// energy_loss arguments plus Ce [B|1, M, L, L]; L <= 6.
inline OpDims validate_homogenized_tensor(const at::Tensor& u, const at::Tensor& phase,
                                          const at::Tensor& Ke, const at::Tensor& Fe,
                                          const at::Tensor& Ce) {
  const char* op = "homogenized_tensor";
  const OpDims d = validate_energy(op, u, phase, Ke, Fe);
  TORCH_CHECK(d.L >= 1 && d.L <= kMaxLoadChunk, "phnet::", op,
              ": argument 'u' must have 1 <= L <= ", kMaxLoadChunk, " load cases, got ",
              describe(u));
  check_like(op, "Ce", Ce, "u", u);
  check_matrices(op, "Ce", Ce, d.B, d.M, d.L, d.L);
  return d;
}

// a, u [B, L, 3, n, n, n], b [B, J, 3, n, n, n], Ke [B|1, M, 24, 24], Fe [B|1, M, 24, J]
inline OpDims validate_phase_gradient(const at::Tensor& a, const at::Tensor& u, const at::Tensor& b,
                                      const at::Tensor& Ke, const at::Tensor& Fe) {
  const char* op = "phase_gradient";
  const FieldDims fu = check_field(op, "u", u);
  const FieldDims fa = check_field(op, "a", a, fu.L);
  check_like(op, "a", a, "u", u);
  check_grid(op, "a", fa.B, fa.n, "u", fu.B, fu.n);
  const FieldDims fb = check_field(op, "b", b);
  check_like(op, "b", b, "u", u);
  check_grid(op, "b", fb.B, fb.n, "u", fu.B, fu.n);
  check_like(op, "Ke", Ke, "u", u);
  check_like(op, "Fe", Fe, "u", u);
  TORCH_CHECK(Ke.dim() == 4, "phnet::", op, ": argument 'Ke' must be [B|1, M, 24, 24], got ",
              describe(Ke));
  const int64_t M = Ke.size(1);
  TORCH_CHECK(M >= 1 && M <= kMaxPhases, "phnet::", op,
              ": argument 'Ke' must have 1 <= M <= ", kMaxPhases, " phases (dim 1), got ",
              describe(Ke));
  check_matrices(op, "Ke", Ke, fu.B, M, kElementDofs, kElementDofs);
  check_matrices(op, "Fe", Fe, fu.B, M, kElementDofs, fb.L);
  return {fu.B, fu.L, M, fu.n, fb.L};
}

// u [B, L, 3, n, n, n], phase [B, M, n, n, n], C [B|1, M, 6, 6], macro_strain [B, L, 6]
inline OpDims validate_element_fields(const at::Tensor& u, const at::Tensor& phase,
                                      const at::Tensor& C, const at::Tensor& macro_strain) {
  const char* op = "element_fields";
  const FieldDims f = check_field(op, "u", u);
  const PhaseDims p = validate_phase_against(op, phase, f, "u", u);
  check_like(op, "C", C, "u", u);
  check_matrices(op, "C", C, f.B, p.M, kVoigt, kVoigt);
  check_like(op, "macro_strain", macro_strain, "u", u);
  check_batched_matrix(op, "macro_strain", macro_strain, f.B, f.L, kVoigt);
  return {f.B, f.L, p.M, f.n, 0};
}

}  // namespace phnet

// CPU kernel of phnet::element_fields: voxel-average strain eps_l = macro_strain[l] - B u_l
// and stress C_e eps_l (CONVENTIONS: u is the fluctuation solving K u = f).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <tuple>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

std::tuple<at::Tensor, at::Tensor> element_fields_cpu(
    const at::Tensor& u_in,              // [B, L, 3, n, n, n]
    const at::Tensor& phase_in,          // [B, M, n, n, n]
    const at::Tensor& C_in,              // [B|1, M, 6, 6]
    const at::Tensor& macro_strain_in) {  // [B, L, 6]
  const OpDims d = validate_element_fields(u_in, phase_in, C_in, macro_strain_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::element_fields: CPU kernel got ", describe(u_in));
  const at::Tensor u = u_in.contiguous(), phase = phase_in.contiguous();
  const at::Tensor C = C_in.contiguous(), macro = macro_strain_in.contiguous();
  at::Tensor strain = at::empty({d.B, d.L, kVoigt, d.n, d.n, d.n}, u.options());
  at::Tensor stress = at::empty({d.B, d.L, kVoigt, d.n, d.n, d.n}, u.options());
  if (strain.numel() == 0) return {strain, stress};
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::element_fields", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = u.data_ptr<T>();
    const T* pp = phase.data_ptr<T>();
    const T* cp = C.data_ptr<T>();
    const T* mp = macro.data_ptr<T>();
    T* ep = strain.data_ptr<T>();
    T* sp = stress.data_ptr<T>();
    const T inv_h = static_cast<T>(d.n);
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* C_b = sample_matrices(cp, C.size(0), b, int64_t(M) * kVoigt * kVoigt);
      T ph[kMaxPhases * W];
      T ue[kElementDofs][W];
      T eps[kVoigt][W];
      T sig[kVoigt][W];
      T cb[kVoigt * kVoigt][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          blend_stiffness<T, W>(C_b, ph, W, M, cb);
          const int64_t voxel = (static_cast<int64_t>(i) * n + j) * n + k0;
          for (int l = 0; l < L; ++l) {
            gather_element<T, W>(up + ((b * L) + l) * 3 * nn, nn, n, i, j, k0, wv, ue);
            element_center_strain<T, W>(ue, inv_h, eps);
            const T* E0 = mp + (b * L + l) * kVoigt;
            for (int p = 0; p < kVoigt; ++p)
              for (int w = 0; w < W; ++w) eps[p][w] = E0[p] - eps[p][w];
            element_stress<T, W>(cb, eps, sig);
            T* e_out = ep + (b * L + l) * kVoigt * nn + voxel;
            T* s_out = sp + (b * L + l) * kVoigt * nn + voxel;
            for (int p = 0; p < kVoigt; ++p)
              for (int w = 0; w < wv; ++w) {
                e_out[p * nn + w] = eps[p][w];
                s_out[p * nn + w] = sig[p][w];
              }
          }
        }
      }
    });
  });
  return {strain, stress};
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("element_fields", &element_fields_cpu); }

}  // namespace phnet

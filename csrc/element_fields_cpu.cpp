// CPU kernel of phnet::element_fields: voxel-average strain eps_l = macro_strain[l] - B u_l
// and stress C_e eps_l (u is the periodic fluctuation that solves K u = f, so the total strain
// is the macroscopic strain minus its strain; see element_math.h).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <tuple>

#include "cpu_loops.h"
#include "op_prepare.h"

namespace phnet {
namespace {

void launch_element_fields(const ElementFieldsArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::element_fields", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* cp = p.C.data_ptr<T>();
    const T* mp = p.macro_strain.data_ptr<T>();
    T* ep = p.strain.data_ptr<T>();
    T* sp = p.stress.data_ptr<T>();
    const T inv_h = static_cast<T>(d.n);
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* C_b = sample_matrices(cp, p.C.size(0), b, int64_t(M) * kVoigt * kVoigt);
      for_each_voxel_chunk<W>(n, [=](int j, int k0, int wv) PHNET_ALWAYS_INLINE {
        T ph[kMaxPhases * W];
        T ue[kElementDofs][W];
        T eps[kVoigt][W];
        T sig[kVoigt][W];
        T cb[kVoigt * kVoigt][W];
        load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
        blend_stiffness<T, W>(C_b, ph, W, M, cb);
        const int64_t voxel = (static_cast<int64_t>(i) * n + j) * n + k0;
        for (int l = 0; l < L; ++l) {
          gather_element<T, W>(up + ((b * L) + l) * 3 * nn, nn, n, i, j, k0, wv, ue);
          element_center_strain<T, W>(ue, inv_h, eps);
          const T* E0 = mp + (b * L + l) * kVoigt;
          for (int q = 0; q < kVoigt; ++q)
            for (int w = 0; w < W; ++w) eps[q][w] = E0[q] - eps[q][w];
          element_stress<T, W>(cb, eps, sig);
          T* e_out = ep + (b * L + l) * kVoigt * nn + voxel;
          T* s_out = sp + (b * L + l) * kVoigt * nn + voxel;
          for (int q = 0; q < kVoigt; ++q)
            for (int w = 0; w < wv; ++w) {
              e_out[q * nn + w] = eps[q][w];
              s_out[q * nn + w] = sig[q][w];
            }
        }
      });
    });
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> element_fields_cpu(
    const at::Tensor& u,               // [B, L, 3, n, n, n]
    const at::Tensor& phase,           // [B, M, n, n, n]
    const at::Tensor& C,               // [B|1, M, 6, 6]
    const at::Tensor& macro_strain) {  // [B, L, 6]
  const ElementFieldsArgs p =
      prepare_element_fields(u, phase, C, macro_strain, c10::DeviceType::CPU);
  if (!p.empty()) launch_element_fields(p);
  return {p.strain, p.stress};
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("element_fields", &element_fields_cpu); }

}  // namespace phnet

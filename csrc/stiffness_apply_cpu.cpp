// CPU kernel of phnet::stiffness_apply: y = K u, matrix-free, element by element.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

at::Tensor stiffness_apply_cpu(const at::Tensor& u_in,      // [B, L, 3, n, n, n]
                               const at::Tensor& phase_in,  // [B, M, n, n, n]
                               const at::Tensor& Ke_in) {   // [B|1, M, 24, 24]
  const OpDims d = validate_stiffness_apply(u_in, phase_in, Ke_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::stiffness_apply: CPU kernel got ", describe(u_in));
  const at::Tensor u = u_in.contiguous(), phase = phase_in.contiguous(), Ke = Ke_in.contiguous();
  at::Tensor y = at::zeros_like(u);
  if (u.numel() == 0) return y;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::stiffness_apply", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = u.data_ptr<T>();
    const T* pp = phase.data_ptr<T>();
    const T* kp = Ke.data_ptr<T>();
    T* yp = y.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, Ke.size(0), b, int64_t(M) * kKeSize);
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ue[l]);
            dispatch_loads(nl, [&](auto NL) { element_matvec<T, W, NL.value>(Ke_b, ph, W, M, ue, ye); });
            for (int l = 0; l < nl; ++l)
              scatter_add_element<T, W>(yp + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0,
                                             wv, ye[l]);
          }
        }
      }
    });
  });
  return y;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("stiffness_apply", &stiffness_apply_cpu); }

}  // namespace phnet

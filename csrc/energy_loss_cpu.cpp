// CPU kernels of phnet::energy_loss (fused energies, no K u materialised) and of its
// backward grad * (K u - f) (one pass, loads and stiffness product fused).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <vector>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

at::Tensor energy_loss_cpu(const at::Tensor& u_in,      // [B, L, 3, n, n, n]
                           const at::Tensor& phase_in,  // [B, M, n, n, n]
                           const at::Tensor& Ke_in,     // [B|1, M, 24, 24]
                           const at::Tensor& Fe_in) {   // [B|1, M, 24, L]
  const OpDims d = validate_energy("energy_loss", u_in, phase_in, Ke_in, Fe_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::energy_loss: CPU kernel got ", describe(u_in));
  const at::Tensor u = u_in.contiguous(), phase = phase_in.contiguous();
  const at::Tensor Ke = Ke_in.contiguous(), Fe = Fe_in.contiguous();
  if (d.B == 0 || d.L == 0) return at::zeros({d.B, d.L}, u.options());
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;
  // Per-plane partial sums in double, reduced in a fixed order: deterministic and accurate
  // also for float32 inputs.
  std::vector<double> partial(static_cast<size_t>(d.B * d.n * L), 0.0);

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::energy_loss", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = u.data_ptr<T>();
    const T* pp = phase.data_ptr<T>();
    const T* kp = Ke.data_ptr<T>();
    const T* fp = Fe.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, Fe.size(0), b, int64_t(M) * kElementDofs * L);
      double* out = partial.data() + (b * d.n + i) * L;
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T en[kMaxLoadChunk][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ue[l]);
            dispatch_loads(nl, [&](auto NL) {
              element_energy<T, W, NL.value>(Ke_b, Fe_b, L, l0, ph, W, M, ue, en);
            });
            for (int l = 0; l < nl; ++l) {
              double s = 0.0;
              for (int w = 0; w < wv; ++w) s += static_cast<double>(en[l][w]);
              out[l0 + l] += s;
            }
          }
        }
      }
    });
  });

  at::Tensor energy = at::empty({d.B, d.L}, u.options().dtype(at::kDouble));  // [B, L]
  double* ep = energy.data_ptr<double>();
  for (int64_t b = 0; b < d.B; ++b)
    for (int l = 0; l < L; ++l) {
      double s = 0.0;
      for (int64_t i = 0; i < d.n; ++i) s += partial[(b * d.n + i) * L + l];
      ep[b * L + l] = s;
    }
  return energy.to(u.scalar_type());
}

at::Tensor energy_loss_backward_cpu(const at::Tensor& grad_in,   // [B, L]
                                    const at::Tensor& u_in,      // [B, L, 3, n, n, n]
                                    const at::Tensor& phase_in,  // [B, M, n, n, n]
                                    const at::Tensor& Ke_in,     // [B|1, M, 24, 24]
                                    const at::Tensor& Fe_in) {   // [B|1, M, 24, L]
  const OpDims d = validate_energy_backward(grad_in, u_in, phase_in, Ke_in, Fe_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::energy_loss_backward: CPU kernel got ",
              describe(u_in));
  const at::Tensor grad = grad_in.contiguous(), u = u_in.contiguous();
  const at::Tensor phase = phase_in.contiguous(), Ke = Ke_in.contiguous(), Fe = Fe_in.contiguous();
  at::Tensor out = at::zeros_like(u);  // [B, L, 3, n, n, n]
  if (u.numel() == 0) return out;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::energy_loss_backward", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* gp = grad.data_ptr<T>();
    const T* up = u.data_ptr<T>();
    const T* pp = phase.data_ptr<T>();
    const T* kp = Ke.data_ptr<T>();
    const T* fp = Fe.data_ptr<T>();
    T* op = out.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, Fe.size(0), b, int64_t(M) * kElementDofs * L);
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T fe[kMaxLoadChunk][kElementDofs][W];
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
            element_loads<T, W, kMaxLoadChunk>(Fe_b, L, l0, ph, W, M, nl, fe);
            for (int l = 0; l < nl; ++l) {
              const T g = gp[b * L + l0 + l];
              for (int r = 0; r < kElementDofs; ++r)
                for (int w = 0; w < W; ++w) ye[l][r][w] = g * (ye[l][r][w] - fe[l][r][w]);
              scatter_add_element<T, W>(op + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0,
                                             wv, ye[l]);
            }
          }
        }
      }
    });
  });
  return out;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) {
  m.impl("energy_loss", &energy_loss_cpu);
  m.impl("energy_loss_backward", &energy_loss_backward_cpu);
}

}  // namespace phnet

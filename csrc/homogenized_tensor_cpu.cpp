// CPU kernel of phnet::homogenized_tensor: the energy form of C^H summed over the cell,
//   sum_e [Ce_e - u_i.fe_j - u_j.fe_i + u_i^T Ke_e u_j]   (= |Omega| C^H_ij).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <vector>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

at::Tensor homogenized_tensor_cpu(const at::Tensor& u_in,      // [B, L, 3, n, n, n], L <= 6
                                  const at::Tensor& phase_in,  // [B, M, n, n, n]
                                  const at::Tensor& Ke_in,     // [B|1, M, 24, 24]
                                  const at::Tensor& Fe_in,     // [B|1, M, 24, L]
                                  const at::Tensor& Ce_in) {   // [B|1, M, L, L]
  const OpDims d = validate_homogenized_tensor(u_in, phase_in, Ke_in, Fe_in, Ce_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::homogenized_tensor: CPU kernel got ",
              describe(u_in));
  const at::Tensor u = u_in.contiguous(), phase = phase_in.contiguous();
  const at::Tensor Ke = Ke_in.contiguous(), Fe = Fe_in.contiguous();
  const at::Tensor Ce = Ce_in.to(at::kDouble).contiguous();
  if (d.B == 0) return at::zeros({d.B, d.L, d.L}, u.options());
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;
  // Per-plane partials (double): the L x L fluctuation terms and the phase totals.
  std::vector<double> part_ch(static_cast<size_t>(d.B * d.n * L * L), 0.0);
  std::vector<double> part_ph(static_cast<size_t>(d.B * d.n * M), 0.0);

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::homogenized_tensor", [&] {
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
      double* ch = part_ch.data() + (b * d.n + i) * L * L;
      double* phs = part_ph.data() + (b * d.n + i) * M;
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T fe[kMaxLoadChunk][kElementDofs][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int m = 0; m < M; ++m)
            for (int w = 0; w < wv; ++w) phs[m] += static_cast<double>(ph[m * W + w]);
          for (int l = 0; l < L; ++l)
            gather_element<T, W>(up + ((b * L) + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
          dispatch_loads(L, [&](auto NL) { element_matvec<T, W, NL.value>(Ke_b, ph, W, M, ue, ye); });
          element_loads<T, W, kMaxLoadChunk>(Fe_b, L, 0, ph, W, M, L, fe);
          for (int p = 0; p < L; ++p)
            for (int q = p; q < L; ++q) {
              T acc[W];
              for (int w = 0; w < W; ++w) acc[w] = T(0);
              for (int r = 0; r < kElementDofs; ++r)
                for (int w = 0; w < W; ++w)
                  acc[w] += ue[p][r][w] * (ye[q][r][w] - fe[q][r][w]) - ue[q][r][w] * fe[p][r][w];
              double s = 0.0;
              for (int w = 0; w < wv; ++w) s += static_cast<double>(acc[w]);
              ch[p * L + q] += s;
            }
        }
      }
    });
  });

  at::Tensor out = at::empty({d.B, d.L, d.L}, u.options().dtype(at::kDouble));  // [B, L, L]
  double* op = out.data_ptr<double>();
  const double* cp = Ce.data_ptr<double>();
  for (int64_t b = 0; b < d.B; ++b) {
    const double* Ce_b = sample_matrices(cp, Ce.size(0), b, int64_t(M) * L * L);
    // The fluctuation part was accumulated for p <= q only (it is symmetric); the volume term
    // uses Ce as given, so that gradients w.r.t. Ce are exact also for non-symmetric input.
    for (int p = 0; p < L; ++p)
      for (int q = 0; q < L; ++q) {
        const int lo = std::min(p, q), hi = std::max(p, q);
        double s = 0.0;
        for (int64_t i = 0; i < d.n; ++i) s += part_ch[((b * d.n + i) * L + lo) * L + hi];
        for (int m = 0; m < M; ++m) {
          double tot = 0.0;
          for (int64_t i = 0; i < d.n; ++i) tot += part_ph[(b * d.n + i) * M + m];
          s += tot * Ce_b[(m * L + p) * L + q];
        }
        op[(b * L + p) * L + q] = s;
      }
  }
  return out.to(u.scalar_type());
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("homogenized_tensor", &homogenized_tensor_cpu); }

}  // namespace phnet

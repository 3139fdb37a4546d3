// CPU kernel of phnet::phase_gradient: per voxel and phase m,
//   g[m] = sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j].
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

at::Tensor phase_gradient_cpu(const at::Tensor& a_in,    // [B, L, 3, n, n, n]
                              const at::Tensor& u_in,    // [B, L, 3, n, n, n]
                              const at::Tensor& b_in,    // [B, J, 3, n, n, n]
                              const at::Tensor& Ke_in,   // [B|1, M, 24, 24]
                              const at::Tensor& Fe_in) {  // [B|1, M, 24, J]
  const OpDims d = validate_phase_gradient(a_in, u_in, b_in, Ke_in, Fe_in);
  TORCH_CHECK(u_in.device().is_cpu(), "phnet::phase_gradient: CPU kernel got ", describe(u_in));
  const at::Tensor a = a_in.contiguous(), u = u_in.contiguous(), bf = b_in.contiguous();
  const at::Tensor Ke = Ke_in.contiguous(), Fe = Fe_in.contiguous();
  at::Tensor g = at::zeros({d.B, d.M, d.n, d.n, d.n}, u.options());  // [B, M, n, n, n]
  if (g.numel() == 0) return g;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int J = static_cast<int>(d.J);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::phase_gradient", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* ap = a.data_ptr<T>();
    const T* up = u.data_ptr<T>();
    const T* bp = bf.data_ptr<T>();
    const T* kp = Ke.data_ptr<T>();
    const T* fp = Fe.data_ptr<T>();
    T* gp = g.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, Fe.size(0), b, int64_t(M) * kElementDofs * J);
      T ae[kMaxLoadChunk][kElementDofs][W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T be[kMaxLoadChunk][kElementDofs][W];
      T gl[W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          T* g_row = gp + b * M * nn + (static_cast<int64_t>(i) * n + j) * n + k0;
          // Load chunks of a/u, then column chunks of b; each chunk adds to every phase.
          const int chunks = std::max((L + kMaxLoadChunk - 1) / kMaxLoadChunk,
                                      (J + kMaxLoadChunk - 1) / kMaxLoadChunk);
          for (int c = 0; c < chunks; ++c) {
            const int l0 = c * kMaxLoadChunk;
            const int nl = std::max(0, std::min(kMaxLoadChunk, L - l0));
            const int nb = std::max(0, std::min(kMaxLoadChunk, J - l0));
            for (int l = 0; l < nl; ++l) {
              gather_element<T, W>(ap + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ae[l]);
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ue[l]);
            }
            for (int l = 0; l < nb; ++l)
              gather_element<T, W>(bp + ((b * J) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        be[l]);
            for (int m = 0; m < M; ++m) {
              element_phase_sensitivity<T, W, kMaxLoadChunk>(
                  Ke_b + m * kKeSize, Fe_b + int64_t(m) * kElementDofs * J + l0, J, nl, nb, ae,
                  ue, be, gl);
              for (int w = 0; w < wv; ++w) g_row[m * nn + w] += gl[w];
            }
          }
        }
      }
    });
  });
  return g;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("phase_gradient", &phase_gradient_cpu); }

}  // namespace phnet

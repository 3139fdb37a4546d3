// CPU kernel of phnet::phase_gradient: per voxel and phase m,
//   g[m] = sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j].
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_prepare.h"

namespace phnet {
namespace {

void launch_phase_gradient(const PhaseGradientArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int J = static_cast<int>(d.J);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::phase_gradient", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* ap = p.a.data_ptr<T>();
    const T* up = p.u.data_ptr<T>();
    const T* bp = p.b.data_ptr<T>();
    const T* kp = p.Ke.data_ptr<T>();
    const T* fp = p.Fe.data_ptr<T>();
    T* gp = p.g.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, p.Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, p.Fe.size(0), b, int64_t(M) * kElementDofs * J);
      T ae[kMaxLoadChunk][kElementDofs][W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T be[kMaxLoadChunk][kElementDofs][W];
      T gl[W];
      for_each_voxel_chunk<W>(
          n, [=, &ae, &ue, &be, &gl](int j, int k0, int wv) PHNET_ALWAYS_INLINE {
            T* g_row = gp + b * M * nn + (static_cast<int64_t>(i) * n + j) * n + k0;
            // Load chunks of a/u, then column chunks of b; each chunk adds to every phase.
            const int chunks = std::max((L + kMaxLoadChunk - 1) / kMaxLoadChunk,
                                        (J + kMaxLoadChunk - 1) / kMaxLoadChunk);
            for (int c = 0; c < chunks; ++c) {
              const int l0 = c * kMaxLoadChunk;
              const int nl = std::max(0, std::min(kMaxLoadChunk, L - l0));
              const int nb = std::max(0, std::min(kMaxLoadChunk, J - l0));
              for (int l = 0; l < nl; ++l) {
                gather_element<T, W>(ap + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ae[l]);
                gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
              }
              for (int l = 0; l < nb; ++l)
                gather_element<T, W>(bp + ((b * J) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, be[l]);
              for (int m = 0; m < M; ++m) {
                element_phase_sensitivity<T, W, kMaxLoadChunk>(
                    Ke_b + m * kKeSize, Fe_b + int64_t(m) * kElementDofs * J + l0, J, nl, nb, ae,
                    ue, be, gl);
                for (int w = 0; w < wv; ++w) g_row[m * nn + w] += gl[w];
              }
            }
          });
    });
  });
}

}  // namespace

at::Tensor phase_gradient_cpu(const at::Tensor& a,     // [B, L, 3, n, n, n]
                              const at::Tensor& u,     // [B, L, 3, n, n, n]
                              const at::Tensor& b,     // [B, J, 3, n, n, n]
                              const at::Tensor& Ke,    // [B|1, M, 24, 24]
                              const at::Tensor& Fe) {  // [B|1, M, 24, J]
  const PhaseGradientArgs p = prepare_phase_gradient(a, u, b, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_phase_gradient(p);
  return p.g;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("phase_gradient", &phase_gradient_cpu); }

}  // namespace phnet

// CPU kernel of phnet::homogenized_tensor: the energy form of C^H summed over the cell,
//   sum_e [Ce_e - u_i.fe_j - u_j.fe_i + u_i^T Ke_e u_j]   (= |Omega| C^H_ij).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "cpu_loops.h"
#include "op_prepare.h"

namespace phnet {
namespace {

void launch_homogenized_tensor(const HomogenizedTensorArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;
  // Per-plane partials (double): the L x L fluctuation terms and the phase totals.
  std::vector<double> part_ch(static_cast<size_t>(d.B * d.n * L * L), 0.0);
  std::vector<double> part_ph(static_cast<size_t>(d.B * d.n * M), 0.0);

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::homogenized_tensor", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* kp = p.Ke.data_ptr<T>();
    const T* fp = p.Fe.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, p.Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, p.Fe.size(0), b, int64_t(M) * kElementDofs * L);
      double* ch = part_ch.data() + (b * d.n + i) * L * L;
      double* phs = part_ph.data() + (b * d.n + i) * M;
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T fe[kMaxLoadChunk][kElementDofs][W];
      // The chunk loop of for_each_voxel_chunk, written out: with the skeleton GCC fused
      // different multiply-adds into FMAs here, which changed the float32 results in the last
      // bits (see cpu_loops.h).
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int m = 0; m < M; ++m)
            for (int w = 0; w < wv; ++w) phs[m] += static_cast<double>(ph[m * W + w]);
          for (int l = 0; l < L; ++l)
            gather_element<T, W>(up + ((b * L) + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
          dispatch_loads(L,
                         [&](auto NL) { element_matvec<T, W, NL.value>(Ke_b, ph, W, M, ue, ye); });
          element_loads<T, W, kMaxLoadChunk>(Fe_b, L, 0, ph, W, M, L, fe);
          // Load pairs (lp, lq), lp <= lq.
          for (int lp = 0; lp < L; ++lp)
            for (int lq = lp; lq < L; ++lq) {
              T acc[W];
              for (int w = 0; w < W; ++w) acc[w] = T(0);
              for (int r = 0; r < kElementDofs; ++r)
                for (int w = 0; w < W; ++w)
                  acc[w] +=
                      ue[lp][r][w] * (ye[lq][r][w] - fe[lq][r][w]) - ue[lq][r][w] * fe[lp][r][w];
              double s = 0.0;
              for (int w = 0; w < wv; ++w) s += static_cast<double>(acc[w]);
              ch[lp * L + lq] += s;
            }
        }
      }
    });
  });

  // The sums in double, then one rounding to the dtype of u.
  at::Tensor out = at::empty({d.B, d.L, d.L}, p.out.options().dtype(at::kDouble));  // [B, L, L]
  double* op = out.data_ptr<double>();
  const double* cp = p.Ce.data_ptr<double>();
  for (int64_t b = 0; b < d.B; ++b) {
    const double* Ce_b = sample_matrices(cp, p.Ce.size(0), b, int64_t(M) * L * L);
    // The fluctuation part was accumulated for lp <= lq only (it is symmetric); the volume
    // term uses Ce as given, so that gradients w.r.t. Ce are exact also for non-symmetric
    // input.
    for (int lp = 0; lp < L; ++lp)
      for (int lq = 0; lq < L; ++lq) {
        const int lo = std::min(lp, lq), hi = std::max(lp, lq);
        double s = 0.0;
        for (int64_t i = 0; i < d.n; ++i) s += part_ch[((b * d.n + i) * L + lo) * L + hi];
        for (int m = 0; m < M; ++m) {
          double tot = 0.0;
          for (int64_t i = 0; i < d.n; ++i) tot += part_ph[(b * d.n + i) * M + m];
          s += tot * Ce_b[(m * L + lp) * L + lq];
        }
        op[(b * L + lp) * L + lq] = s;
      }
  }
  p.out.copy_(out);
}

}  // namespace

at::Tensor homogenized_tensor_cpu(const at::Tensor& u,      // [B, L, 3, n, n, n], L <= 6
                                  const at::Tensor& phase,  // [B, M, n, n, n]
                                  const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                  const at::Tensor& Fe,     // [B|1, M, 24, L]
                                  const at::Tensor& Ce) {   // [B|1, M, L, L]
  const HomogenizedTensorArgs p =
      prepare_homogenized_tensor(u, phase, Ke, Fe, Ce, c10::DeviceType::CPU);
  if (!p.empty()) launch_homogenized_tensor(p);
  return p.out;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("homogenized_tensor", &homogenized_tensor_cpu); }

}  // namespace phnet

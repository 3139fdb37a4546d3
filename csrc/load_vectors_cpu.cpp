// CPU kernel of phnet::load_vectors: assembled f_l = sum_e (sum_m phase_m Fe[m])[:, l].
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_inputs.h"

namespace phnet {

at::Tensor load_vectors_cpu(const at::Tensor& phase_in,  // [B, M, n, n, n]
                            const at::Tensor& Fe_in) {   // [B|1, M, 24, L]
  const OpDims d = validate_load_vectors(phase_in, Fe_in);
  TORCH_CHECK(phase_in.device().is_cpu(), "phnet::load_vectors: CPU kernel got ",
              describe(phase_in));
  const at::Tensor phase = phase_in.contiguous(), Fe = Fe_in.contiguous();
  at::Tensor f = at::zeros({d.B, d.L, 3, d.n, d.n, d.n}, phase.options());  // [B, L, 3, n, n, n]
  if (f.numel() == 0) return f;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(phase.scalar_type(), "phnet::load_vectors", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* pp = phase.data_ptr<T>();
    const T* fp = Fe.data_ptr<T>();
    T* outp = f.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Fe_b = sample_matrices(fp, Fe.size(0), b, int64_t(M) * kElementDofs * L);
      T ph[kMaxPhases * W];
      T fe[kMaxLoadChunk][kElementDofs][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            element_loads<T, W, kMaxLoadChunk>(Fe_b, L, l0, ph, W, M, nl, fe);
            for (int l = 0; l < nl; ++l)
              scatter_add_element<T, W>(outp + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0,
                                             wv, fe[l]);
          }
        }
      }
    });
  });
  return f;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("load_vectors", &load_vectors_cpu); }

}  // namespace phnet

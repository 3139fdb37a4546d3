// CPU kernel of phnet::load_vectors: assembled f_l = sum_e (sum_m phase_m Fe[m])[:, l].
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_prepare.h"

namespace phnet {
namespace {

void launch_load_vectors(const LoadVectorsArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.phase.scalar_type(), "phnet::load_vectors", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* fp = p.Fe.data_ptr<T>();
    T* outp = p.f.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Fe_b = sample_matrices(fp, p.Fe.size(0), b, int64_t(M) * kElementDofs * L);
      T ph[kMaxPhases * W];
      T fe[kMaxLoadChunk][kElementDofs][W];
      for_each_voxel_chunk<W>(n, [=, &ph, &fe](int j, int k0, int wv) PHNET_ALWAYS_INLINE {
        load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
        for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
          const int nl = std::min(kMaxLoadChunk, L - l0);
          element_loads<T, W, kMaxLoadChunk>(Fe_b, L, l0, ph, W, M, nl, fe);
          for (int l = 0; l < nl; ++l)
            scatter_add_element<T, W>(outp + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                      fe[l]);
        }
      });
    });
  });
}

}  // namespace

at::Tensor load_vectors_cpu(const at::Tensor& phase,  // [B, M, n, n, n]
                            const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const LoadVectorsArgs p = prepare_load_vectors(phase, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_load_vectors(p);
  return p.f;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("load_vectors", &load_vectors_cpu); }

}  // namespace phnet

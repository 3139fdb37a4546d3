// CUDA kernel of phnet::homogenized_tensor: per-voxel terms of the energy form, reduced per
// block into double partials [B, blocks, L*L + M] and summed deterministically afterwards.
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void homogenized_tensor_kernel(const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                          const T* __restrict__ phase,  // [B, M, n, n, n]
                                          const T* __restrict__ Ke,     // [B|1, M, 24, 24]
                                          const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                          bool Ke_batched, bool Fe_batched,
                                          double* __restrict__ partial,  // [B, gx, L*L + M]
                                          int64_t B, int L, int M, int n) {
  PHNET_SHARED(double, shared, kThreads);
  const int64_t nn = int64_t(n) * n * n;
  const int width = L * L + M;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const T* Ke_b = Ke + (Ke_batched ? b * M * kKeSize : 0);
    const T* Fe_b = Fe + (Fe_batched ? b * M * kElementDofs * L : 0);
    double* out = partial + (b * gridDim.x + blockIdx.x) * width;
    // Pair (p, q), p <= q: sum_e u_p.(K u_q - f_q) - u_q.f_p.
    for (int q = 0; q < L; ++q) {
      for (int p = 0; p <= q; ++p) {
        double acc = 0.0;
        for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nn;
             e += int64_t(gridDim.x) * blockDim.x) {
          int i, j, k;
          voxel_coords(e, n, i, j, k);
          const T* ph = phase + b * M * nn + e;
          T uq[1][kElementDofs][1], up[1][kElementDofs][1], yq[1][kElementDofs][1];
          T fq[1][kElementDofs][1], fp[1][kElementDofs][1];
          gather_element<T, 1>(u + (b * L + q) * 3 * nn, nn, n, i, j, k, 1, uq[0]);
          gather_element<T, 1>(u + (b * L + p) * 3 * nn, nn, n, i, j, k, 1, up[0]);
          element_matvec<T, 1, 1>(Ke_b, ph, nn, M, uq, yq);
          element_loads<T, 1, 1>(Fe_b, L, q, ph, nn, M, 1, fq);
          element_loads<T, 1, 1>(Fe_b, L, p, ph, nn, M, 1, fp);
          T s = T(0);
          for (int r = 0; r < kElementDofs; ++r)
            s += up[0][r][0] * (yq[0][r][0] - fq[0][r][0]) - uq[0][r][0] * fp[0][r][0];
          acc += static_cast<double>(s);
        }
        const double tot = block_sum(acc, shared);
        if (threadIdx.x == 0) {
          out[p * L + q] = tot;
          out[q * L + p] = tot;
        }
      }
    }
    for (int m = 0; m < M; ++m) {
      double acc = 0.0;
      for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nn;
           e += int64_t(gridDim.x) * blockDim.x)
        acc += static_cast<double>(phase[(b * M + m) * nn + e]);
      const double tot = block_sum(acc, shared);
      if (threadIdx.x == 0) out[L * L + m] = tot;
    }
  }
}

}  // namespace phnet

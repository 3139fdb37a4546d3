// CUDA kernels of phnet::energy_loss (per-voxel energies reduced per block into double
// partials, summed deterministically afterwards) and of energy_loss_backward (fused
// grad * (K u - f), atomic scatter).
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void energy_loss_kernel(const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                   const T* __restrict__ phase,  // [B, M, n, n, n]
                                   const T* __restrict__ Ke,     // [B|1, M, 24, 24]
                                   const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                   bool Ke_batched, bool Fe_batched,
                                   double* __restrict__ partial,  // [B, gridDim.x, L]
                                   int64_t B, int L, int M, int n) {
  PHNET_SHARED(double, shared, kThreads);
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const T* Ke_b = Ke + (Ke_batched ? b * M * kKeSize : 0);
    const T* Fe_b = Fe + (Fe_batched ? b * M * kElementDofs * L : 0);
    for (int l = 0; l < L; ++l) {
      double acc = 0.0;
      for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nn;
           e += int64_t(gridDim.x) * blockDim.x) {
        int i, j, k;
        voxel_coords(e, n, i, j, k);
        T ue[1][kElementDofs][1];
        T en[1][1];
        gather_element<T, 1>(u + (b * L + l) * 3 * nn, nn, n, i, j, k, 1, ue[0]);
        element_energy<T, 1, 1>(Ke_b, Fe_b, L, l, phase + b * M * nn + e, nn, M, ue, en);
        acc += static_cast<double>(en[0][0]);
      }
      const double s = block_sum(acc, shared);
      if (threadIdx.x == 0) partial[(b * gridDim.x + blockIdx.x) * L + l] = s;
    }
  }
}

template <typename T>
__global__ void energy_loss_backward_kernel(const T* __restrict__ grad,   // [B, L]
                                            const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                            const T* __restrict__ phase,  // [B, M, n, n, n]
                                            const T* __restrict__ Ke,     // [B|1, M, 24, 24]
                                            const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                            bool Ke_batched, bool Fe_batched,
                                            T* __restrict__ out,  // [B, L, 3, n, n, n], zeroed
                                            int64_t B, int L, int M, int n) {
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * nn;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = t / nn, e = t % nn;
    int i, j, k;
    voxel_coords(e, n, i, j, k);
    const T* Ke_b = Ke + (Ke_batched ? b * M * kKeSize : 0);
    const T* Fe_b = Fe + (Fe_batched ? b * M * kElementDofs * L : 0);
    const T* ph = phase + b * M * nn + e;
    T ue[1][kElementDofs][1];
    T ye[1][kElementDofs][1];
    T fe[1][kElementDofs][1];
    for (int l = 0; l < L; ++l) {
      const T g = grad[b * L + l];
      gather_element<T, 1>(u + (b * L + l) * 3 * nn, nn, n, i, j, k, 1, ue[0]);
      element_matvec<T, 1, 1>(Ke_b, ph, nn, M, ue, ye);
      element_loads<T, 1, 1>(Fe_b, L, l, ph, nn, M, 1, fe);
      for (int r = 0; r < kElementDofs; ++r) ye[0][r][0] = g * (ye[0][r][0] - fe[0][r][0]);
      atomic_scatter_element<T>(out + (b * L + l) * 3 * nn, nn, n, i, j, k, ye[0]);
    }
  }
}

}  // namespace phnet

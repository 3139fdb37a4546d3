// CUDA kernel of phnet::phase_gradient: one thread per voxel and phase (no atomics: each
// thread owns its output).
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void phase_gradient_kernel(const T* __restrict__ a,   // [B, L, 3, n, n, n]
                                      const T* __restrict__ u,   // [B, L, 3, n, n, n]
                                      const T* __restrict__ bf,  // [B, J, 3, n, n, n]
                                      const T* __restrict__ Ke,  // [B|1, M, 24, 24]
                                      const T* __restrict__ Fe,  // [B|1, M, 24, J]
                                      bool Ke_batched, bool Fe_batched,
                                      T* __restrict__ g,  // [B, M, n, n, n], every entry written
                                      int64_t B, int L, int J, int M, int n) {
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * M * nn;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = t % nn;
    const int m = static_cast<int>((t / nn) % M);
    const int64_t b = t / (nn * M);
    int i, j, k;
    voxel_coords(e, n, i, j, k);
    const T* Ke_m = Ke + (Ke_batched ? b * M * kKeSize : 0) + m * kKeSize;
    const T* Fe_m =
        Fe + (Fe_batched ? b * M * kElementDofs * J : 0) + int64_t(m) * kElementDofs * J;
    T ae[1][kElementDofs][1], ue[1][kElementDofs][1];
    T part[1];
    T total = T(0);
    for (int l = 0; l < L; ++l) {
      gather_element<T, 1>(a + (b * L + l) * 3 * nn, nn, n, i, j, k, 1, ae[0]);
      gather_element<T, 1>(u + (b * L + l) * 3 * nn, nn, n, i, j, k, 1, ue[0]);
      element_phase_sensitivity<T, 1, 1>(Ke_m, Fe_m, J, 1, 0, ae, ue, ae, part);
      total += part[0];
    }
    for (int c = 0; c < J; ++c) {
      gather_element<T, 1>(bf + (b * J + c) * 3 * nn, nn, n, i, j, k, 1, ae[0]);
      element_phase_sensitivity<T, 1, 1>(Ke_m, Fe_m + c, J, 0, 1, ae, ae, ae, part);
      total += part[0];
    }
    g[t] = total;
  }
}

}  // namespace phnet

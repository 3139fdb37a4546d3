// CUDA kernel of phnet::stiffness_apply: one thread per voxel, element math from
// element_math.h (W = 1), atomic scatter into the nodes.
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void stiffness_apply_kernel(const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                       const T* __restrict__ phase,  // [B, M, n, n, n]
                                       const T* __restrict__ Ke,     // [B|1, M, 24, 24]
                                       bool Ke_batched,
                                       T* __restrict__ y,  // [B, L, 3, n, n, n], zeroed
                                       int64_t B, int L, int M, int n) {
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * nn;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = t / nn, e = t % nn;
    int i, j, k;
    voxel_coords(e, n, i, j, k);
    const T* Ke_b = Ke + (Ke_batched ? b * M * kKeSize : 0);
    const T* ph = phase + b * M * nn + e;
    T ue[1][kElementDofs][1];
    T ye[1][kElementDofs][1];
    for (int l = 0; l < L; ++l) {
      gather_element<T, 1>(u + (b * L + l) * 3 * nn, nn, n, i, j, k, 1, ue[0]);
      element_matvec<T, 1, 1>(Ke_b, ph, nn, M, ue, ye);
      atomic_scatter_element<T>(y + (b * L + l) * 3 * nn, nn, n, i, j, k, ye[0]);
    }
  }
}

}  // namespace phnet

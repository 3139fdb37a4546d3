// CUDA kernel of phnet::load_vectors: one thread per voxel, atomic scatter.
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void load_vectors_kernel(const T* __restrict__ phase,  // [B, M, n, n, n]
                                    const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                    bool Fe_batched,
                                    T* __restrict__ f,  // [B, L, 3, n, n, n], zeroed
                                    int64_t B, int L, int M, int n) {
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * nn;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = t / nn, e = t % nn;
    int i, j, k;
    voxel_coords(e, n, i, j, k);
    const T* Fe_b = Fe + (Fe_batched ? b * M * kElementDofs * L : 0);
    const T* ph = phase + b * M * nn + e;
    T fe[1][kElementDofs][1];
    for (int l = 0; l < L; ++l) {
      element_loads<T, 1, 1>(Fe_b, L, l, ph, nn, M, 1, fe);
      atomic_scatter_element<T>(f + (b * L + l) * 3 * nn, nn, n, i, j, k, fe[0]);
    }
  }
}

}  // namespace phnet

// CUDA kernel of phnet::element_fields: one thread per voxel and load case.
#pragma once

#include <cstdint>

#include "element_math.h"
#include "kernels/common.cuh"
#include "simt/device.h"

namespace phnet {

template <typename T>
__global__ void element_fields_kernel(const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                      const T* __restrict__ phase,  // [B, M, n, n, n]
                                      const T* __restrict__ C,      // [B|1, M, 6, 6]
                                      const T* __restrict__ macro,  // [B, L, 6]
                                      bool C_batched,
                                      T* __restrict__ strain,  // [B, L, 6, n, n, n], all written
                                      T* __restrict__ stress,  // [B, L, 6, n, n, n], all written
                                      int64_t B, int L, int M, int n) {
  const int64_t nn = int64_t(n) * n * n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * L * nn;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t e = t % nn;
    const int64_t bl = t / nn;  // b * L + l
    const int64_t b = bl / L;
    int i, j, k;
    voxel_coords(e, n, i, j, k);
    T ue[kElementDofs][1], eps[kVoigt][1], sig[kVoigt][1];
    gather_element<T, 1>(u + bl * 3 * nn, nn, n, i, j, k, 1, ue);
    element_center_strain<T, 1>(ue, static_cast<T>(n), eps);
    for (int p = 0; p < kVoigt; ++p) eps[p][0] = macro[bl * kVoigt + p] - eps[p][0];
    T cb[kVoigt * kVoigt][1];
    blend_stiffness<T, 1>(C + (C_batched ? b * M * kVoigt * kVoigt : 0), phase + b * M * nn + e, nn,
                          M, cb);
    element_stress<T, 1>(cb, eps, sig);
    for (int p = 0; p < kVoigt; ++p) {
      strain[(bl * kVoigt + p) * nn + e] = eps[p][0];
      stress[(bl * kVoigt + p) * nn + e] = sig[p][0];
    }
  }
}

}  // namespace phnet

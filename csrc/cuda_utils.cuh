// Launch helpers shared by the CUDA kernels (thin wrappers: the element math itself lives in
// element_math.h and is the same code the CPU kernels run).
#pragma once

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

#include "element_math.h"

namespace phnet {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `work` items (capped: the loop covers the rest).
inline unsigned int grid_blocks(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65535)));
}

// field[dof d of voxel (i, j, k)] += ye[d] with atomics (voxels of different threads share
// nodes).
template <typename T>
__device__ inline void atomic_scatter_element(T* field, int64_t nn, int n, int i, int j, int k,
                                              const T (*ye)[1]) {
  for (int nd = 0; nd < 8; ++nd) {
    const int64_t node = corner_node(n, i, j, k, nd);
    atomicAdd(field + node, ye[3 * nd + 0][0]);
    atomicAdd(field + nn + node, ye[3 * nd + 1][0]);
    atomicAdd(field + 2 * nn + node, ye[3 * nd + 2][0]);
  }
}

// Voxel coordinates of flat voxel index e (x slowest).
__device__ inline void voxel_coords(int64_t e, int n, int& i, int& j, int& k) {
  k = static_cast<int>(e % n);
  const int64_t t = e / n;
  j = static_cast<int>(t % n);
  i = static_cast<int>(t / n);
}

// Sum of v over the block (kThreads threads); the result is valid in thread 0.
__device__ inline double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

}  // namespace phnet

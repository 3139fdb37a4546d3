// Device helpers shared by the CUDA kernels (the element math itself lives in element_math.h
// and is the same code the CPU kernels run). Compiled by nvcc and, for the SIMT emulator, as
// host C++ (simt/device.h).
#pragma once

#include <cstdint>

#include "element_math.h"
#include "simt/device.h"

namespace phnet {

// Threads per block of the launchers on a GPU, and the most any launch may use: block_sum's
// shared buffers have this many entries. (The emulator's tests launch smaller blocks, so that
// the grid-stride loops of small problems run several rounds.)
constexpr int kThreads = 256;

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

// Sum of v over the block; the result is valid in thread 0. blockDim.x must be a power of two
// <= kThreads and blockDim.y = blockDim.z = 1; shared: [blockDim.x] doubles.
__device__ inline double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

}  // namespace phnet

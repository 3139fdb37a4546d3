// The device layer of the CUDA kernels (kernels/*.cuh): the only CUDA features they use, so that
// the same kernel sources compile unchanged under nvcc, for the GPU, and as host C++, where they
// run in the SIMT emulator (emulator.h) on the CPU.
//
//   __global__, __device__, __host__, __forceinline__   function qualifiers
//   threadIdx, blockIdx, blockDim, gridDim              built-in variables
//   __syncthreads()                                     block barrier
//   atomicAdd(p, v)                                     int, unsigned int, unsigned long long,
//                                                       float, double
//   PHNET_SHARED(type, name, count)                     static shared array of one block
//   PHNET_DYNAMIC_SHARED(type, name)                    the launch's dynamic shared memory
//   PHNET_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...)
//                                                       kernel launch (no <<<...>>> elsewhere)
//
// A kernel declares shared memory only through PHNET_SHARED: in host C++ a plain `__shared__`
// does not compile, since a static array there would be one array for all blocks instead of one
// per block.
#pragma once

#if defined(__CUDACC__)

#define PHNET_SHARED(type, name, count) __shared__ type name[count]
#define PHNET_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define PHNET_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  kernel<<<grid, block, shared_bytes, stream>>>

#else  // host C++: the SIMT emulator

#include <atomic>
#include <type_traits>

#include "simt/emulator.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ PHNET_SIMT_declare_shared_memory_with_PHNET_SHARED

#define threadIdx (::phnet::simt::this_thread().thread_idx)
#define blockIdx (::phnet::simt::this_thread().block_idx)
#define blockDim (::phnet::simt::this_thread().block_dim)
#define gridDim (::phnet::simt::this_thread().grid_dim)

using dim3 = ::phnet::simt::dim3;

inline void __syncthreads() { ::phnet::simt::syncthreads(); }

// CUDA's atomicAdd: returns the old value. Blocks run on one OS thread at a time today, but the
// update is atomic anyway, so that running blocks on several threads stays correct.
template <typename T>
inline T atomicAdd(T* address, T value) {
  static_assert(
      std::is_same_v<T, int> || std::is_same_v<T, unsigned int> ||
          std::is_same_v<T, unsigned long long> || std::is_same_v<T, float> ||
          std::is_same_v<T, double>,
      "atomicAdd: CUDA has it for int, unsigned int, unsigned long long, float and double");
  return std::atomic_ref<T>(*address).fetch_add(value);
}

// `name` is a reference to the block's array (sizeof(name) is that of the array, as in CUDA);
// the address of the static local (mutable, so never merged with another) identifies the
// declaration. `count` must be a constant expression.
#define PHNET_SHARED(type, name, count)              \
  static char name##_simt_site;                      \
  type(&name)[count] = *static_cast<type(*)[count]>( \
      ::phnet::simt::static_shared(&name##_simt_site, sizeof(type[count]), alignof(type), #name))

#define PHNET_DYNAMIC_SHARED(type, name) \
  type* const name = static_cast<type*>(::phnet::simt::dynamic_shared())

#define PHNET_LAUNCH(kernel, grid, block, shared_bytes, stream) \
  ::phnet::simt::KernelLaunch(&kernel, #kernel, grid, block, shared_bytes, stream)

#endif

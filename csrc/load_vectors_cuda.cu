// CUDA kernel of phnet::load_vectors: one thread per voxel, atomic scatter.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "cuda_utils.cuh"
#include "op_prepare.h"

namespace phnet {

template <typename T>
__global__ void load_vectors_kernel(const T* __restrict__ phase,  // [B, M, n, n, n]
                                    const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                    bool Fe_batched, T* __restrict__ f, int64_t B, int L, int M,
                                    int n) {
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

namespace {

void launch_load_vectors(const LoadVectorsArgs& p) {
  const OpDims& d = p.d;
  const c10::cuda::CUDAGuard guard(p.phase.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(p.phase.scalar_type(), "phnet::load_vectors_cuda", [&] {
    load_vectors_kernel<scalar_t><<<grid_blocks(d.B * d.n * d.n * d.n), kThreads, 0, stream>>>(
        p.phase.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(), p.Fe.size(0) != 1,
        p.f.data_ptr<scalar_t>(), d.B, int(d.L), int(d.M), int(d.n));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

at::Tensor load_vectors_cuda(const at::Tensor& phase,  // [B, M, n, n, n]
                             const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const LoadVectorsArgs p = prepare_load_vectors(phase, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_load_vectors(p);
  return p.f;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("load_vectors", &load_vectors_cuda); }

}  // namespace phnet

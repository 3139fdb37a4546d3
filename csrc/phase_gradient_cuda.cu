// CUDA kernel of phnet::phase_gradient: one thread per voxel and phase (no atomics: each
// thread owns its output).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "cuda_utils.cuh"
#include "op_prepare.h"

namespace phnet {

template <typename T>
__global__ void phase_gradient_kernel(const T* __restrict__ a,   // [B, L, 3, n, n, n]
                                      const T* __restrict__ u,   // [B, L, 3, n, n, n]
                                      const T* __restrict__ bf,  // [B, J, 3, n, n, n]
                                      const T* __restrict__ Ke,  // [B|1, M, 24, 24]
                                      const T* __restrict__ Fe,  // [B|1, M, 24, J]
                                      bool Ke_batched, bool Fe_batched,
                                      T* __restrict__ g,  // [B, M, n, n, n]
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

namespace {

void launch_phase_gradient(const PhaseGradientArgs& p) {
  const OpDims& d = p.d;
  const c10::cuda::CUDAGuard guard(p.u.device());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::phase_gradient_cuda", [&] {
    phase_gradient_kernel<scalar_t><<<grid_blocks(p.g.numel()), kThreads, 0, stream>>>(
        p.a.data_ptr<scalar_t>(), p.u.data_ptr<scalar_t>(), p.b.data_ptr<scalar_t>(),
        p.Ke.data_ptr<scalar_t>(), p.Fe.data_ptr<scalar_t>(), p.Ke.size(0) != 1, p.Fe.size(0) != 1,
        p.g.data_ptr<scalar_t>(), d.B, int(d.L), int(d.J), int(d.M), int(d.n));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

}  // namespace

at::Tensor phase_gradient_cuda(const at::Tensor& a,     // [B, L, 3, n, n, n]
                               const at::Tensor& u,     // [B, L, 3, n, n, n]
                               const at::Tensor& b,     // [B, J, 3, n, n, n]
                               const at::Tensor& Ke,    // [B|1, M, 24, 24]
                               const at::Tensor& Fe) {  // [B|1, M, 24, J]
  const PhaseGradientArgs p = prepare_phase_gradient(a, u, b, Ke, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_phase_gradient(p);
  return p.g;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("phase_gradient", &phase_gradient_cuda); }

}  // namespace phnet

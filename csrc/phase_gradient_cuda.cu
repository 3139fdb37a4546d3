// CUDA kernel of phnet::phase_gradient: one thread per voxel and phase (no atomics: each
// thread owns its output).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "cuda_utils.cuh"
#include "op_inputs.h"

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
    const T* Fe_m = Fe + (Fe_batched ? b * M * kElementDofs * J : 0) + int64_t(m) * kElementDofs * J;
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

at::Tensor phase_gradient_cuda(const at::Tensor& a_in,    // [B, L, 3, n, n, n]
                               const at::Tensor& u_in,    // [B, L, 3, n, n, n]
                               const at::Tensor& b_in,    // [B, J, 3, n, n, n]
                               const at::Tensor& Ke_in,   // [B|1, M, 24, 24]
                               const at::Tensor& Fe_in) {  // [B|1, M, 24, J]
  const OpDims d = validate_phase_gradient(a_in, u_in, b_in, Ke_in, Fe_in);
  TORCH_CHECK(u_in.is_cuda(), "phnet::phase_gradient: CUDA kernel got ", describe(u_in));
  const c10::cuda::CUDAGuard guard(u_in.device());
  const at::Tensor a = a_in.contiguous(), u = u_in.contiguous(), bf = b_in.contiguous();
  const at::Tensor Ke = Ke_in.contiguous(), Fe = Fe_in.contiguous();
  at::Tensor g = at::zeros({d.B, d.M, d.n, d.n, d.n}, u.options());
  if (g.numel() == 0) return g;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "phnet::phase_gradient_cuda", [&] {
    phase_gradient_kernel<scalar_t><<<grid_blocks(g.numel()), kThreads, 0, stream>>>(
        a.data_ptr<scalar_t>(), u.data_ptr<scalar_t>(), bf.data_ptr<scalar_t>(),
        Ke.data_ptr<scalar_t>(), Fe.data_ptr<scalar_t>(), Ke.size(0) != 1, Fe.size(0) != 1,
        g.data_ptr<scalar_t>(), d.B, int(d.L), int(d.J), int(d.M), int(d.n));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return g;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("phase_gradient", &phase_gradient_cuda); }

}  // namespace phnet

// CUDA kernel of phnet::homogenized_tensor: per-voxel terms of the energy form, reduced per
// block into double partials [B, blocks, L*L + M] and summed deterministically afterwards.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/einsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sum.h>
#include <torch/library.h>

#include "cuda_utils.cuh"
#include "op_prepare.h"

namespace phnet {

template <typename T>
__global__ void homogenized_tensor_kernel(const T* __restrict__ u,      // [B, L, 3, n, n, n]
                                          const T* __restrict__ phase,  // [B, M, n, n, n]
                                          const T* __restrict__ Ke,     // [B|1, M, 24, 24]
                                          const T* __restrict__ Fe,     // [B|1, M, 24, L]
                                          bool Ke_batched, bool Fe_batched,
                                          double* __restrict__ partial,  // [B, gx, L*L + M]
                                          int64_t B, int L, int M, int n) {
  __shared__ double shared[kThreads];
  const int64_t nn = int64_t(n) * n * n;
  const int width = L * L + M;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const T* Ke_b = Ke + (Ke_batched ? b * M * kKeSize : 0);
    const T* Fe_b = Fe + (Fe_batched ? b * M * kElementDofs * L : 0);
    double* out = partial + (b * gridDim.x + blockIdx.x) * width;
    // Pair (p, q), p <= q: sum_e u_p.(K u_q - f_q) - u_q.f_p.
    for (int q = 0; q < L; ++q) {
      for (int p = 0; p <= q; ++p) {
        double acc = 0.0;
        for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nn;
             e += int64_t(gridDim.x) * blockDim.x) {
          int i, j, k;
          voxel_coords(e, n, i, j, k);
          const T* ph = phase + b * M * nn + e;
          T uq[1][kElementDofs][1], up[1][kElementDofs][1], yq[1][kElementDofs][1];
          T fq[1][kElementDofs][1], fp[1][kElementDofs][1];
          gather_element<T, 1>(u + (b * L + q) * 3 * nn, nn, n, i, j, k, 1, uq[0]);
          gather_element<T, 1>(u + (b * L + p) * 3 * nn, nn, n, i, j, k, 1, up[0]);
          element_matvec<T, 1, 1>(Ke_b, ph, nn, M, uq, yq);
          element_loads<T, 1, 1>(Fe_b, L, q, ph, nn, M, 1, fq);
          element_loads<T, 1, 1>(Fe_b, L, p, ph, nn, M, 1, fp);
          T s = T(0);
          for (int r = 0; r < kElementDofs; ++r)
            s += up[0][r][0] * (yq[0][r][0] - fq[0][r][0]) - uq[0][r][0] * fp[0][r][0];
          acc += static_cast<double>(s);
        }
        const double tot = block_sum(acc, shared);
        if (threadIdx.x == 0) {
          out[p * L + q] = tot;
          out[q * L + p] = tot;
        }
      }
    }
    for (int m = 0; m < M; ++m) {
      double acc = 0.0;
      for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < nn;
           e += int64_t(gridDim.x) * blockDim.x)
        acc += static_cast<double>(phase[(b * M + m) * nn + e]);
      const double tot = block_sum(acc, shared);
      if (threadIdx.x == 0) out[L * L + m] = tot;
    }
  }
}

namespace {

void launch_homogenized_tensor(const HomogenizedTensorArgs& p) {
  const OpDims& d = p.d;
  const c10::cuda::CUDAGuard guard(p.u.device());
  const unsigned int bx = std::min<unsigned int>(grid_blocks(d.n * d.n * d.n), 1024);
  const unsigned int by = static_cast<unsigned int>(std::min<int64_t>(d.B, 65535));
  const int64_t width = d.L * d.L + d.M;
  at::Tensor partial = at::empty({d.B, int64_t(bx), width}, p.u.options().dtype(at::kDouble));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::homogenized_tensor_cuda", [&] {
    homogenized_tensor_kernel<scalar_t><<<dim3(bx, by), kThreads, 0, stream>>>(
        p.u.data_ptr<scalar_t>(), p.phase.data_ptr<scalar_t>(), p.Ke.data_ptr<scalar_t>(),
        p.Fe.data_ptr<scalar_t>(), p.Ke.size(0) != 1, p.Fe.size(0) != 1, partial.data_ptr<double>(),
        d.B, int(d.L), int(d.M), int(d.n));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  const at::Tensor totals = at::sum(partial, {1});  // [B, L*L + M]
  const at::Tensor fluct = totals.narrow(1, 0, d.L * d.L).view({d.B, d.L, d.L});
  const at::Tensor phase_total = totals.narrow(1, d.L * d.L, d.M);  // [B, M]
  const at::Tensor Ce = p.Ce.expand({d.B, d.M, d.L, d.L});
  // Summed in double, rounded once to the dtype of u.
  p.out.copy_(at::add(fluct, at::einsum("bm,bmpq->bpq", {phase_total, Ce})));
}

}  // namespace

at::Tensor homogenized_tensor_cuda(const at::Tensor& u,      // [B, L, 3, n, n, n]
                                   const at::Tensor& phase,  // [B, M, n, n, n]
                                   const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                   const at::Tensor& Fe,     // [B|1, M, 24, L]
                                   const at::Tensor& Ce) {   // [B|1, M, L, L]
  const HomogenizedTensorArgs p =
      prepare_homogenized_tensor(u, phase, Ke, Fe, Ce, c10::DeviceType::CUDA);
  if (!p.empty()) launch_homogenized_tensor(p);
  return p.out;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("homogenized_tensor", &homogenized_tensor_cuda); }

}  // namespace phnet

// CUDA backend of phnet::homogenized_tensor: the entry point (prepare, launch) and its
// registration. The kernel and its launcher live in kernels/ and are shared with the SIMT
// emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/homogenized_tensor_launch.h"
#include "op_prepare.h"

namespace phnet {

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

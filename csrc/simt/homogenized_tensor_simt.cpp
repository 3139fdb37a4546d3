// phnet_simt::homogenized_tensor: the CUDA kernel of phnet::homogenized_tensor
// (kernels/homogenized_tensor.cuh, launched by kernels/homogenized_tensor_launch.h) run by the SIMT
// emulator on CPU tensors. Test-only library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/homogenized_tensor_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

at::Tensor homogenized_tensor_simt(const at::Tensor& u,      // [B, L, 3, n, n, n]
                                   const at::Tensor& phase,  // [B, M, n, n, n]
                                   const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                   const at::Tensor& Fe,     // [B|1, M, 24, L]
                                   const at::Tensor& Ce) {   // [B|1, M, L, L]
  const HomogenizedTensorArgs p =
      prepare_homogenized_tensor(u, phase, Ke, Fe, Ce, c10::DeviceType::CPU);
  if (!p.empty()) {
    prefill_output(p.out);  // written by the launcher from the kernel's partial sums
    launch_homogenized_tensor(p);
  }
  return p.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) { m.impl("homogenized_tensor", &homogenized_tensor_simt); }

}  // namespace phnet::simt

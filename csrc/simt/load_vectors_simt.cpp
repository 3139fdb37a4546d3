// phnet_simt::load_vectors: the CUDA kernel of phnet::load_vectors (kernels/load_vectors.cuh,
// launched by kernels/load_vectors_launch.h) run by the SIMT emulator on CPU tensors. Test-only
// library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/load_vectors_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

at::Tensor load_vectors_simt(const at::Tensor& phase,  // [B, M, n, n, n]
                             const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const LoadVectorsArgs p = prepare_load_vectors(phase, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_load_vectors(p);  // f: zero-filled, the kernel adds into it
  return p.f;
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) { m.impl("load_vectors", &load_vectors_simt); }

}  // namespace phnet::simt

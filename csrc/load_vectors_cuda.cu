// CUDA backend of phnet::load_vectors: the entry point (prepare, launch) and its registration. The
// kernel and its launcher live in kernels/ and are shared with the SIMT emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "kernels/load_vectors_launch.h"
#include "op_prepare.h"

namespace phnet {

at::Tensor load_vectors_cuda(const at::Tensor& phase,  // [B, M, n, n, n]
                             const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const LoadVectorsArgs p = prepare_load_vectors(phase, Fe, c10::DeviceType::CUDA);
  if (!p.empty()) launch_load_vectors(p);
  return p.f;
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("load_vectors", &load_vectors_cuda); }

}  // namespace phnet

// CUDA backend of phnet::element_fields: the entry point (prepare, launch) and its registration.
// The kernel and its launcher live in kernels/ and are shared with the SIMT emulator's tests.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <tuple>

#include "kernels/element_fields_launch.h"
#include "op_prepare.h"

namespace phnet {

std::tuple<at::Tensor, at::Tensor> element_fields_cuda(
    const at::Tensor& u,               // [B, L, 3, n, n, n]
    const at::Tensor& phase,           // [B, M, n, n, n]
    const at::Tensor& C,               // [B|1, M, 6, 6]
    const at::Tensor& macro_strain) {  // [B, L, 6]
  const ElementFieldsArgs p =
      prepare_element_fields(u, phase, C, macro_strain, c10::DeviceType::CUDA);
  if (!p.empty()) launch_element_fields(p);
  return {p.strain, p.stress};
}

TORCH_LIBRARY_IMPL(phnet, CUDA, m) { m.impl("element_fields", &element_fields_cuda); }

}  // namespace phnet

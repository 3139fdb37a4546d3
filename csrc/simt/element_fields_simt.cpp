// phnet_simt::element_fields: the CUDA kernel of phnet::element_fields (kernels/element_fields.cuh,
// launched by kernels/element_fields_launch.h) run by the SIMT emulator on CPU tensors. Test-only
// library, see simt/registration.cpp.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <tuple>

#include "kernels/element_fields_launch.h"
#include "op_prepare.h"
#include "simt/prefill.h"

namespace phnet::simt {
namespace {

std::tuple<at::Tensor, at::Tensor> element_fields_simt(
    const at::Tensor& u,               // [B, L, 3, n, n, n]
    const at::Tensor& phase,           // [B, M, n, n, n]
    const at::Tensor& C,               // [B|1, M, 6, 6]
    const at::Tensor& macro_strain) {  // [B, L, 6]
  const ElementFieldsArgs p =
      prepare_element_fields(u, phase, C, macro_strain, c10::DeviceType::CPU);
  if (!p.empty()) {
    prefill_output(p.strain);  // the kernel writes every entry of both
    prefill_output(p.stress);
    launch_element_fields(p);
  }
  return {p.strain, p.stress};
}

}  // namespace

TORCH_LIBRARY_IMPL(phnet_simt, CPU, m) { m.impl("element_fields", &element_fields_simt); }

}  // namespace phnet::simt

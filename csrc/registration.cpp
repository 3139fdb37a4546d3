// Schemas of the phnet ops (op_schemas.h). Kernels are registered per backend in the
// *_cpu.cpp / *_cuda.cu files; fake (meta) kernels and autograd formulas are registered from
// phnet_cuda/ops.py.
#include <torch/library.h>

#include "build_info.h"
#include "op_schemas.h"

TORCH_LIBRARY(phnet, m) {
  for (const char* schema : phnet::kOpSchemas) m.def(schema);
  // How this library was built, as a JSON string (see build_info.h); no tensors, so one
  // backend-independent kernel, defined with the schema.
  m.def("build_info() -> str", &phnet::build_info);
}

// phnet::build_info(): how this library was built, for the Python loader (phnet_cuda/_lib.py)
// and CI. Registered in registration.cpp.
#pragma once

#include <string>

namespace phnet {

// One JSON object: {"version", "source_hash", "torch", "cuda", "cuda_version",
// "cuda_architectures", "compiler", "cuda_compiler", "cpu_arch", "openmp", "build_type",
// "kernels": {"CPU": [op, ...], "CUDA": [op, ...]}}. "source_hash" is the hash of csrc/ that
// CMakeLists.txt computed when it configured this build; "kernels" lists the phnet ops that
// have a kernel registered for each backend, read from the dispatcher when called.
std::string build_info();

}  // namespace phnet

// Input validation shared by the CPU and CUDA entry points of every op. Each failure is a
// TORCH_CHECK whose message names the op, the argument, what it got (shape, dtype, device)
// and what was expected.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>

#include <cstdint>
#include <string>

namespace phnet {

// "shape [2, 6, 3, 8, 8, 8], dtype float, device cpu"
std::string describe(const at::Tensor& t);

// Floating dtype (float32 or float64) check.
void check_floating(const char* op, const char* name, const at::Tensor& t);

// t lives on a device of the backend whose kernel runs. The dispatcher picks the kernel from
// the arguments' device, so this fails only for a kernel called directly with the wrong tensors.
void check_backend(const char* op, const char* name, const at::Tensor& t, c10::DeviceType backend);

// t has the dtype and device of ref.
void check_like(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                const at::Tensor& ref);

struct FieldDims {
  int64_t B, L, n;
};
// A displacement-like field [B, L, 3, n, n, n]. L < 0: any number of load cases.
FieldDims check_field(const char* op, const char* name, const at::Tensor& t, int64_t L = -1);

struct PhaseDims {
  int64_t B, M, n;
};
// Phase fractions [B, M, n, n, n] with 1 <= M <= kMaxPhases.
PhaseDims check_phase(const char* op, const char* name, const at::Tensor& t);

// Per-sample, per-phase matrices [B or 1, M, rows, cols] (cols < 0: any).
// Returns the number of columns.
int64_t check_matrices(const char* op, const char* name, const at::Tensor& t, int64_t B, int64_t M,
                       int64_t rows, int64_t cols);

// Per-sample matrices [B, rows, cols].
void check_batched_matrix(const char* op, const char* name, const at::Tensor& t, int64_t B,
                          int64_t rows, int64_t cols);

// The same grid size and batch in two arguments.
void check_grid(const char* op, const char* name, int64_t B, int64_t n, const char* ref_name,
                int64_t B_ref, int64_t n_ref);

// Ke[b, m] symmetric (checked only for CPU tensors: on CUDA it would cost a device sync).
void check_symmetric(const char* op, const char* name, const at::Tensor& Ke);

}  // namespace phnet

#include "checks.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/sub.h>
#include <c10/util/Exception.h>

#include <sstream>

#include "element_math.h"

namespace phnet {

std::string describe(const at::Tensor& t) {
  std::ostringstream os;
  os << "shape " << t.sizes() << ", dtype " << t.scalar_type() << ", device " << t.device();
  return os.str();
}

void check_floating(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, "phnet::", op,
              ": argument '", name, "' must be float32 or float64, got ", describe(t));
}

void check_backend(const char* op, const char* name, const at::Tensor& t, c10::DeviceType backend) {
  TORCH_CHECK(t.device().type() == backend, "phnet::", op, ": the ", c10::DeviceTypeName(backend),
              " kernel got argument '", name, "' with ", describe(t), "; expected a ",
              c10::DeviceTypeName(backend, /*lower_case=*/true), " tensor");
}

void check_like(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                const at::Tensor& ref) {
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), "phnet::", op, ": argument '", name,
              "' must have the dtype of '", ref_name, "' (", ref.scalar_type(), "), got ",
              describe(t));
  TORCH_CHECK(t.device() == ref.device(), "phnet::", op, ": argument '", name,
              "' must be on the device of '", ref_name, "' (", ref.device(), "), got ",
              describe(t));
}

FieldDims check_field(const char* op, const char* name, const at::Tensor& t, int64_t L) {
  check_floating(op, name, t);
  TORCH_CHECK(t.dim() == 6 && t.size(2) == 3 && t.size(3) == t.size(4) && t.size(4) == t.size(5) &&
                  t.size(3) >= 1,
              "phnet::", op, ": argument '", name,
              "' must be a 6-D field [B, L, 3, n, n, n] (node grid n x n x n, n >= 1), got ",
              describe(t));
  if (L >= 0) {
    TORCH_CHECK(t.size(1) == L, "phnet::", op, ": argument '", name, "' must have L = ", L,
                " load cases (dim 1), got ", describe(t));
  }
  return {t.size(0), t.size(1), t.size(3)};
}

PhaseDims check_phase(const char* op, const char* name, const at::Tensor& t) {
  check_floating(op, name, t);
  TORCH_CHECK(t.dim() == 5 && t.size(2) == t.size(3) && t.size(3) == t.size(4) && t.size(2) >= 1,
              "phnet::", op, ": argument '", name,
              "' must be phase fractions [B, M, n, n, n], got ", describe(t));
  TORCH_CHECK(t.size(1) >= 1 && t.size(1) <= kMaxPhases, "phnet::", op, ": argument '", name,
              "' must have 1 <= M <= ", kMaxPhases, " phases (dim 1), got ", describe(t));
  return {t.size(0), t.size(1), t.size(2)};
}

int64_t check_matrices(const char* op, const char* name, const at::Tensor& t, int64_t B, int64_t M,
                       int64_t rows, int64_t cols) {
  check_floating(op, name, t);
  const bool ok = t.dim() == 4 && (t.size(0) == B || t.size(0) == 1) && t.size(1) == M &&
                  t.size(2) == rows && (cols < 0 || t.size(3) == cols);
  TORCH_CHECK(ok, "phnet::", op, ": argument '", name, "' must be per-phase matrices [", B,
              " (or 1), ", M, ", ", rows, ", ",
              (cols < 0 ? std::string("L") : std::to_string(cols)), "], got ", describe(t));
  return t.size(3);
}

void check_batched_matrix(const char* op, const char* name, const at::Tensor& t, int64_t B,
                          int64_t rows, int64_t cols) {
  check_floating(op, name, t);
  TORCH_CHECK(t.dim() == 3 && t.size(0) == B && t.size(1) == rows && t.size(2) == cols,
              "phnet::", op, ": argument '", name, "' must be [", B, ", ", rows, ", ", cols,
              "], got ", describe(t));
}

void check_grid(const char* op, const char* name, int64_t B, int64_t n, const char* ref_name,
                int64_t B_ref, int64_t n_ref) {
  TORCH_CHECK(B == B_ref && n == n_ref, "phnet::", op, ": argument '", name, "' has batch ", B,
              " and grid n = ", n, ", but '", ref_name, "' has batch ", B_ref, " and n = ", n_ref,
              "; they must agree");
}

void check_symmetric(const char* op, const char* name, const at::Tensor& Ke) {
  if (!Ke.device().is_cpu() || Ke.numel() == 0) return;
  const double scale = at::amax(at::abs(Ke)).template item<double>();
  const double asym = at::amax(at::abs(at::sub(Ke, Ke.transpose(-1, -2)))).template item<double>();
  const double tol = (Ke.scalar_type() == at::kFloat ? 1e-5 : 1e-12) * (scale > 0 ? scale : 1.0);
  TORCH_CHECK(asym <= tol, "phnet::", op, ": argument '", name,
              "' must hold symmetric element matrices (max |Ke - Ke^T| = ", asym, " > tolerance ",
              tol, "), got ", describe(Ke));
}

}  // namespace phnet

#include "walsh_basis.h"

#include <ATen/ops/abs.h>
#include <ATen/ops/amax.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include <limits>
#include <vector>

#include "walsh_math.h"

namespace phnet {
namespace {

// Wf = [[1, 1], [1, -1]]^(x3) (x) I_3: Wf[3 p + c, 3 nd + c] = (-1)^popcount(p & nd), float64.
at::Tensor walsh_matrix() {
  at::Tensor Wf = at::zeros({kElementDofs, kElementDofs}, at::TensorOptions().dtype(at::kDouble));
  double* w = Wf.data_ptr<double>();
  for (int p = 0; p < kWalshModes; ++p)
    for (int nd = 0; nd < kWalshModes; ++nd) {
      const double s = (__builtin_popcount(p & nd) & 1) ? -1.0 : 1.0;
      for (int c = 0; c < 3; ++c) w[(3 * p + c) * kElementDofs + 3 * nd + c] = s;
    }
  return Wf;
}

double pattern_tolerance(at::ScalarType dtype) {
  return 64.0 * (dtype == at::kFloat ? std::numeric_limits<float>::epsilon()
                                     : std::numeric_limits<double>::epsilon());
}

// True when every |full[..., r, c]| outside `in_pattern` is <= tol times the largest |entry| of
// its matrix. full: [..., rows, cols] float64 contiguous.
bool off_pattern_small(const at::Tensor& full, const std::vector<char>& in_pattern, double tol) {
  const int64_t per = full.size(-2) * full.size(-1);
  const int64_t count = full.numel() / per;
  const at::Tensor scale = at::amax(at::abs(full).reshape({count, per}), {1});  // [count]
  const double* f = full.data_ptr<double>();
  const double* s = scale.data_ptr<double>();
  for (int64_t m = 0; m < count; ++m)
    for (int64_t e = 0; e < per; ++e)
      if (!in_pattern[e] && std::abs(f[m * per + e]) > tol * s[m]) return false;
  return true;
}

}  // namespace

at::Tensor walsh_stiffness_values(const at::Tensor& Ke) {
  const at::Tensor Wf = walsh_matrix();
  // [B|1, M, 24, 24] in float64: the transform itself adds no rounding that the check could trip on
  const at::Tensor Kt = at::matmul(at::matmul(Wf, Ke.to(at::kDouble)), Wf).div_(64.0).contiguous();
  std::vector<char> in_pattern(kKeSize, 0);
  std::vector<int64_t> index(kWalshValues);
  for (int p = 0; p < kWalshModes; ++p)
    for (int q = 0; q < kWalshModes; ++q)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          const int v = walsh_value_index(p, q, i, j);
          if (v < 0) continue;
          const int64_t flat = (3 * p + i) * kElementDofs + 3 * q + j;
          in_pattern[flat] = 1;
          index[v] = flat;
        }
  if (!off_pattern_small(Kt, in_pattern, pattern_tolerance(Ke.scalar_type()))) return {};
  const int64_t count = Kt.numel() / kKeSize;
  at::Tensor values = at::empty({count, kWalshValues}, Kt.options());
  const double* src = Kt.data_ptr<double>();
  double* dst = values.data_ptr<double>();
  for (int64_t m = 0; m < count; ++m)
    for (int v = 0; v < kWalshValues; ++v) dst[m * kWalshValues + v] = src[m * kKeSize + index[v]];
  return values.reshape({Ke.size(0), Ke.size(1), kWalshValues}).to(Ke.scalar_type()).contiguous();
}

at::Tensor walsh_load_values(const at::Tensor& Fe) {
  const at::Tensor Wf = walsh_matrix();
  const int64_t L = Fe.size(-1);
  const at::Tensor Ft =
      at::matmul(Wf, Fe.to(at::kDouble)).div_(8.0).contiguous();  // [B|1, M, 24, L]
  std::vector<char> in_pattern(kElementDofs * L, 0);
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 3; ++i)
      for (int64_t l = 0; l < L; ++l) in_pattern[(3 * kWalshLinearMode[r] + i) * L + l] = 1;
  if (L > 0 && !off_pattern_small(Ft, in_pattern, pattern_tolerance(Fe.scalar_type()))) return {};
  const int64_t count = Fe.size(0) * Fe.size(1);
  at::Tensor values = at::empty({count, kWalshLoadRows, L}, Ft.options());
  const double* src = Ft.data_ptr<double>();
  double* dst = values.data_ptr<double>();
  for (int64_t m = 0; m < count; ++m)
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 3; ++i)
        for (int64_t l = 0; l < L; ++l)
          dst[(m * kWalshLoadRows + 3 * r + i) * L + l] =
              src[(m * kElementDofs + 3 * kWalshLinearMode[r] + i) * L + l];
  return values.reshape({Fe.size(0), Fe.size(1), kWalshLoadRows, L})
      .to(Fe.scalar_type())
      .contiguous();
}

}  // namespace phnet

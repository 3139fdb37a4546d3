// CPU kernels of phnet::energy_loss (fused energies, no K u materialised) and of its
// backward grad * (K u - f) (one pass, loads and stiffness product fused).
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "cpu_loops.h"
#include "op_prepare.h"
#include "walsh_math.h"

namespace phnet {
namespace {

// Dense path: any symmetric Ke.
void launch_energy_loss_dense(const EnergyLossArgs& p, std::vector<double>& partial) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;
  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* kp = p.Ke.data_ptr<T>();
    const T* fp = p.Fe.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, p.Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, p.Fe.size(0), b, int64_t(M) * kElementDofs * L);
      double* out = partial.data() + (b * d.n + i) * L;
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T en[kMaxLoadChunk][W];
      // The chunk loop of for_each_voxel_chunk, written out: with the skeleton this kernel ran
      // 1.4x slower in float32 (GCC's code for the loop nest differs; see cpu_loops.h).
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
            dispatch_loads(nl, [&](auto NL) {
              element_energy<T, W, NL.value>(Ke_b, Fe_b, L, l0, ph, W, M, ue, en);
            });
            for (int l = 0; l < nl; ++l) {
              double s = 0.0;
              for (int w = 0; w < wv; ++w) s += static_cast<double>(en[l][w]);
              out[l0 + l] += s;
            }
          }
        }
      }
    });
  });
}

// Walsh path (walsh_math.h): Ke and Fe of the trilinear hexahedron, p.Kt and p.Ft their values.
// A function of its own, like the dense one, so that GCC compiles each loop nest alone.
void launch_energy_loss_walsh(const EnergyLossArgs& p, std::vector<double>& partial) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* tp = p.Kt.data_ptr<T>();
    const T* fp = p.Ft.data_ptr<T>();
    for_each_plane(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Kt_b = sample_matrices(tp, p.Kt.size(0), b, int64_t(M) * kWalshValues);
      const T* Ft_b = sample_matrices(fp, p.Ft.size(0), b, int64_t(M) * kWalshLoadRows * L);
      double* out = partial.data() + (b * d.n + i) * L;
      T ph[kMaxPhases * W];
      T kb[kWalshValues][W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T ft[kMaxLoadChunk][kWalshLoadRows][W];
      T en[kMaxLoadChunk][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          walsh_blend_once<T, W>(M, ph, Kt_b, kb);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
            walsh_loads<T, W, kMaxLoadChunk>(Ft_b, L, l0, ph, W, M, nl, ft);
            dispatch_loads(nl, [&](auto NL) {
              walsh_apply<T, W, NL.value>(Kt_b, ph, M, kb, ue, ye);
              walsh_energy<T, W, NL.value>(ue, ye, ft, en);
            });
            for (int l = 0; l < nl; ++l) {
              double s = 0.0;
              for (int w = 0; w < wv; ++w) s += static_cast<double>(en[l][w]);
              out[l0 + l] += s;
            }
          }
        }
      }
    });
  });
}

void launch_energy_loss(const EnergyLossArgs& p) {
  const OpDims& d = p.d;
  const int L = static_cast<int>(d.L);
  // Per-plane partial sums in double, reduced in a fixed order: deterministic and accurate
  // also for float32 inputs.
  std::vector<double> partial(static_cast<size_t>(d.B * d.n * L), 0.0);
  if (p.Kt.defined())
    launch_energy_loss_walsh(p, partial);
  else
    launch_energy_loss_dense(p, partial);

  // The sums in double, then one rounding to the dtype of u.
  at::Tensor energy = at::empty({d.B, d.L}, p.energy.options().dtype(at::kDouble));  // [B, L]
  double* ep = energy.data_ptr<double>();
  for (int64_t b = 0; b < d.B; ++b)
    for (int l = 0; l < L; ++l) {
      double s = 0.0;
      for (int64_t i = 0; i < d.n; ++i) s += partial[(b * d.n + i) * L + l];
      ep[b * L + l] = s;
    }
  p.energy.copy_(energy);
}

// Dense path: any symmetric Ke.
void launch_energy_loss_backward_dense(const EnergyLossBackwardArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss_backward", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* gp = p.grad.data_ptr<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* kp = p.Ke.data_ptr<T>();
    const T* fp = p.Fe.data_ptr<T>();
    T* op = p.out.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, p.Ke.size(0), b, int64_t(M) * kKeSize);
      const T* Fe_b = sample_matrices(fp, p.Fe.size(0), b, int64_t(M) * kElementDofs * L);
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T fe[kMaxLoadChunk][kElementDofs][W];
      for_each_voxel_chunk<W>(n, [=, &ph, &ue, &ye, &fe](int j, int k0,
                                                         int wv) PHNET_ALWAYS_INLINE {
        load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
        for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
          const int nl = std::min(kMaxLoadChunk, L - l0);
          for (int l = 0; l < nl; ++l)
            gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
          dispatch_loads(nl,
                         [&](auto NL) { element_matvec<T, W, NL.value>(Ke_b, ph, W, M, ue, ye); });
          element_loads<T, W, kMaxLoadChunk>(Fe_b, L, l0, ph, W, M, nl, fe);
          for (int l = 0; l < nl; ++l) {
            const T g = gp[b * L + l0 + l];
            for (int r = 0; r < kElementDofs; ++r)
              for (int w = 0; w < W; ++w) ye[l][r][w] = g * (ye[l][r][w] - fe[l][r][w]);
            scatter_add_element<T, W>(op + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ye[l]);
          }
        }
      });
    });
  });
}

// Walsh path of the backward: grad * Wf (Kt_e x - Ft_e) per element.
void launch_energy_loss_backward_walsh(const EnergyLossBackwardArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::energy_loss_backward", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* gp = p.grad.data_ptr<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* tp = p.Kt.data_ptr<T>();
    const T* fp = p.Ft.data_ptr<T>();
    T* op = p.out.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Kt_b = sample_matrices(tp, p.Kt.size(0), b, int64_t(M) * kWalshValues);
      const T* Ft_b = sample_matrices(fp, p.Ft.size(0), b, int64_t(M) * kWalshLoadRows * L);
      T ph[kMaxPhases * W];
      T kb[kWalshValues][W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      T ft[kMaxLoadChunk][kWalshLoadRows][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          walsh_blend_once<T, W>(M, ph, Kt_b, kb);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
            walsh_loads<T, W, kMaxLoadChunk>(Ft_b, L, l0, ph, W, M, nl, ft);
            dispatch_loads(nl,
                           [&](auto NL) { walsh_apply<T, W, NL.value>(Kt_b, ph, M, kb, ue, ye); });
            for (int l = 0; l < nl; ++l) {
              const T g = gp[b * L + l0 + l];
              walsh_subtract_loads<T, W>(ft[l], ye[l]);
              for (int r = 0; r < kElementDofs; ++r)
                for (int w = 0; w < W; ++w) ye[l][r][w] *= g;
              walsh_transform<T, W>(ye[l]);
              scatter_add_element<T, W>(op + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ye[l]);
            }
          }
        }
      }
    });
  });
}

void launch_energy_loss_backward(const EnergyLossBackwardArgs& p) {
  if (p.Kt.defined())
    launch_energy_loss_backward_walsh(p);
  else
    launch_energy_loss_backward_dense(p);
}

}  // namespace

at::Tensor energy_loss_cpu(const at::Tensor& u,      // [B, L, 3, n, n, n]
                           const at::Tensor& phase,  // [B, M, n, n, n]
                           const at::Tensor& Ke,     // [B|1, M, 24, 24]
                           const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossArgs p = prepare_energy_loss(u, phase, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_energy_loss(p);
  return p.energy;
}

at::Tensor energy_loss_backward_cpu(const at::Tensor& grad,   // [B, L]
                                    const at::Tensor& u,      // [B, L, 3, n, n, n]
                                    const at::Tensor& phase,  // [B, M, n, n, n]
                                    const at::Tensor& Ke,     // [B|1, M, 24, 24]
                                    const at::Tensor& Fe) {   // [B|1, M, 24, L]
  const EnergyLossBackwardArgs p =
      prepare_energy_loss_backward(grad, u, phase, Ke, Fe, c10::DeviceType::CPU);
  if (!p.empty()) launch_energy_loss_backward(p);
  return p.out;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) {
  m.impl("energy_loss", &energy_loss_cpu);
  m.impl("energy_loss_backward", &energy_loss_backward_cpu);
}

}  // namespace phnet

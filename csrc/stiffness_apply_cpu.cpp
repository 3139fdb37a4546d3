// CPU kernel of phnet::stiffness_apply: y = K u, matrix-free, element by element.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "cpu_loops.h"
#include "op_prepare.h"
#include "walsh_math.h"

namespace phnet {
namespace {

// Dense path: any Ke (the multigrid's coarse operators, arbitrary matrices).
void launch_stiffness_apply_dense(const StiffnessApplyArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::stiffness_apply", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* kp = p.Ke.data_ptr<T>();
    T* yp = p.y.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Ke_b = sample_matrices(kp, p.Ke.size(0), b, int64_t(M) * kKeSize);
      T ph[kMaxPhases * W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      // The chunk loop of for_each_voxel_chunk, written out: every form of this kernel with the
      // skeleton tried made GCC contract different multiply-adds into FMAs, which changed the
      // results in the last bits (see cpu_loops.h).
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
            dispatch_loads(
                nl, [&](auto NL) { element_matvec<T, W, NL.value>(Ke_b, ph, W, M, ue, ye); });
            for (int l = 0; l < nl; ++l)
              scatter_add_element<T, W>(yp + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ye[l]);
          }
        }
      }
    });
  });
}

// Walsh path (walsh_math.h): Ke of the trilinear hexahedron, p.Kt its 171 values per phase. A
// function of its own: compiled together with the dense loop, GCC made the dense one 3x slower.
void launch_stiffness_apply_walsh(const StiffnessApplyArgs& p) {
  const OpDims& d = p.d;
  const int n = static_cast<int>(d.n), M = static_cast<int>(d.M), L = static_cast<int>(d.L);
  const int64_t nn = d.n * d.n * d.n;

  AT_DISPATCH_FLOATING_TYPES(p.u.scalar_type(), "phnet::stiffness_apply", [&] {
    using T = scalar_t;
    constexpr int W = lanes<T>();
    const T* up = p.u.data_ptr<T>();
    const T* pp = p.phase.data_ptr<T>();
    const T* tp = p.Kt.data_ptr<T>();
    T* yp = p.y.data_ptr<T>();
    for_each_plane_colored(d.B, d.n, [&](int64_t b, int64_t i64) {
      const int i = static_cast<int>(i64);
      const T* Kt_b = sample_matrices(tp, p.Kt.size(0), b, int64_t(M) * kWalshValues);
      T ph[kMaxPhases * W];
      T kb[kWalshValues][W];
      T ue[kMaxLoadChunk][kElementDofs][W];
      T ye[kMaxLoadChunk][kElementDofs][W];
      for (int j = 0; j < n; ++j) {
        for (int k0 = 0; k0 < n; k0 += W) {
          const int wv = std::min(W, n - k0);
          load_phases<T, W>(pp + b * M * nn, nn, M, n, i, j, k0, wv, ph);
          walsh_blend_once<T, W>(M, ph, Kt_b, kb);
          for (int l0 = 0; l0 < L; l0 += kMaxLoadChunk) {
            const int nl = std::min(kMaxLoadChunk, L - l0);
            for (int l = 0; l < nl; ++l)
              gather_element<T, W>(up + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv, ue[l]);
            dispatch_loads(nl,
                           [&](auto NL) { walsh_apply<T, W, NL.value>(Kt_b, ph, M, kb, ue, ye); });
            for (int l = 0; l < nl; ++l) {
              walsh_transform<T, W>(ye[l]);
              scatter_add_element<T, W>(yp + ((b * L) + l0 + l) * 3 * nn, nn, n, i, j, k0, wv,
                                        ye[l]);
            }
          }
        }
      }
    });
  });
}

}  // namespace

at::Tensor stiffness_apply_cpu(const at::Tensor& u,      // [B, L, 3, n, n, n]
                               const at::Tensor& phase,  // [B, M, n, n, n]
                               const at::Tensor& Ke) {   // [B|1, M, 24, 24]
  const StiffnessApplyArgs p = prepare_stiffness_apply(u, phase, Ke, c10::DeviceType::CPU);
  if (p.empty()) return p.y;
  if (p.Kt.defined())
    launch_stiffness_apply_walsh(p);
  else
    launch_stiffness_apply_dense(p);
  return p.y;
}

TORCH_LIBRARY_IMPL(phnet, CPU, m) { m.impl("stiffness_apply", &stiffness_apply_cpu); }

}  // namespace phnet

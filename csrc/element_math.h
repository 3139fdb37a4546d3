// Shared element math for the periodic voxel FE ops. Compiled both by the C++ compiler (CPU
// kernels) and by nvcc (CUDA kernels), so every line here is exercised by the CPU tests.
//
// Conventions (the project's are written down in docs/conventions.md; the ones this code
// relies on are restated here, with the local numbering that is fixed here):
//  * The cell is the unit cube on an n x n x n grid of voxels, edge h = 1 / n, with periodic
//    nodes: n^3 of them, node (i, j, k) at (i, j, k) h, i along x, j along y, k along z.
//  * A field of one load case is stored as [3, n, n, n] (component x/y/z, then i, j, k), node
//    (i, j, k) at flat index (i * n + j) * n + k; the ops take [B, L, 3, n, n, n].
//  * Local node `nd` of voxel (i, j, k) is the node (i + a, j + b, k + c) mod n with
//    (a, b, c) = (nd >> 2, (nd >> 1) & 1, nd & 1); its dofs are 3 * nd + {0, 1, 2}.
//    phnet_cuda/fem.py builds Ke [24, 24] and Fe [24, L] in exactly this order.
//  * Voigt order [xx, yy, zz, yz, xz, xy] with engineering shears (gamma_yz = 2 eps_yz), so
//    sigma = C eps with C a symmetric 6 x 6 matrix.
//  * The per-voxel element matrix is a phase mixture: Ke_e = sum_m phase[m, e] * Ke[m] (the
//    same for Fe, Ce and C).
//  * u is the periodic fluctuation solving K u = f; the voxel strain is the macroscopic strain
//    minus B u.
//
// Lane batching: every element routine works on W voxels at once that are consecutive along
// z (k0, ..., k0 + W - 1). Arrays are laid out [.., W] with the lane innermost, so the CPU
// compiler vectorises the lane loops; CUDA kernels use W = 1 (one voxel per thread).
// Lanes >= the number of valid voxels carry zero phases and zero dofs, so they add nothing.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define PHNET_HD __host__ __device__ inline
#else
#define PHNET_HD inline
#endif

namespace phnet {

constexpr int kElementDofs = 24;  // 8 nodes x 3 components
constexpr int kKeSize = 24 * 24;  // entries of one element stiffness matrix
constexpr int kVoigt = 6;         // [xx, yy, zz, yz, xz, xy], engineering shears
constexpr int kMaxLoadChunk = 6;  // load cases processed together by the CPU kernels
constexpr int kMaxPhases = 64;    // upper bound on M (21 suffices for any anisotropic C)

// Flat node index of local corner `nd` of voxel (i, j, k), with periodic wrap-around.
PHNET_HD int64_t corner_node(int n, int i, int j, int k, int nd) {
  int ii = i + (nd >> 2);
  int jj = j + ((nd >> 1) & 1);
  int kk = k + (nd & 1);
  if (ii >= n) ii -= n;
  if (jj >= n) jj -= n;
  if (kk >= n) kk -= n;
  return (static_cast<int64_t>(ii) * n + jj) * n + kk;
}

// Row offset of local node nd's (x, y) position for voxel row (i, j): i1 = i+1 mod n, etc.
PHNET_HD int64_t corner_row(int n, int i, int j, int nd) {
  int ii = i + (nd >> 2);
  int jj = j + ((nd >> 1) & 1);
  if (ii >= n) ii -= n;
  if (jj >= n) jj -= n;
  return (static_cast<int64_t>(ii) * n + jj) * n;
}

// ue[d][w] = field[dof d of voxel (i, j, k0 + w)] for w < wv, 0 for the padding lanes.
// field: [3, n, n, n] of one load case; nn = n^3. Full chunks that do not wrap around in z
// read W contiguous values per node and component (vectorised on the CPU).
template <typename T, int W>
PHNET_HD void gather_element(const T* field, int64_t nn, int n, int i, int j, int k0, int wv,
                             T (*ue)[W]) {
  for (int nd = 0; nd < 8; ++nd) {
    const int c = nd & 1;
    const int64_t row = corner_row(n, i, j, nd);
    for (int comp = 0; comp < 3; ++comp) {
      const T* src = field + comp * nn + row;
      T* dst = ue[3 * nd + comp];
      if (wv == W && k0 + c + W <= n) {
        for (int w = 0; w < W; ++w) dst[w] = src[k0 + c + w];
      } else {
        for (int w = 0; w < W; ++w) {
          int kk = k0 + w + c;
          if (kk >= n) kk -= n;
          dst[w] = w < wv ? src[kk] : T(0);
        }
      }
    }
  }
}

// field[dof d of voxel (i, j, k0 + w)] += ye[d][w] for w < wv. Each (node, component) pass
// touches distinct addresses, and passes run in order, so voxels of one call that share a node
// accumulate correctly; the caller makes sure no other thread writes the same nodes at the
// same time (CPU) or uses atomics (CUDA).
template <typename T, int W>
PHNET_HD void scatter_add_element(T* field, int64_t nn, int n, int i, int j, int k0, int wv,
                                  const T (*ye)[W]) {
  for (int nd = 0; nd < 8; ++nd) {
    const int c = nd & 1;
    const int64_t row = corner_row(n, i, j, nd);
    for (int comp = 0; comp < 3; ++comp) {
      T* dst = field + comp * nn + row;
      const T* src = ye[3 * nd + comp];
      if (wv == W && k0 + c + W <= n) {
        for (int w = 0; w < W; ++w) dst[k0 + c + w] += src[w];
      } else {
        for (int w = 0; w < wv; ++w) {
          int kk = k0 + w + c;
          if (kk >= n) kk -= n;
          dst[kk] += src[w];
        }
      }
    }
  }
}

// out[w] = sum_m ph[m * ph_stride + w] * mats[m * mat_stride]: one entry of the phase-blended
// element matrix, per lane. ph_stride lets CUDA point straight into the phase tensor.
template <typename T, int W>
PHNET_HD void blend_entry(const T* mats, int64_t mat_stride, const T* ph, int64_t ph_stride, int M,
                          T* out) {
  for (int w = 0; w < W; ++w) out[w] = T(0);
  for (int m = 0; m < M; ++m) {
    const T v = mats[m * mat_stride];
    for (int w = 0; w < W; ++w) out[w] += ph[m * ph_stride + w] * v;
  }
}

// ye[l][r][w] = sum_s Kb[r][s] ue[l][s][w] for exactly LC load cases (a compile-time count,
// so the LC x W accumulators stay in registers; the CPU kernels dispatch on the runtime count),
// with Kb = sum_m ph_m Ke[m] formed entry by entry (never stored as a whole 24 x 24 matrix), so
// the blend costs M per entry once for all LC loads.
// Ke: [M, 24, 24]; ph: [M] x lanes with stride ph_stride.
template <typename T, int W, int LC>
PHNET_HD void element_matvec(const T* Ke, const T* ph, int64_t ph_stride, int M,
                             const T (*ue)[kElementDofs][W], T (*ye)[kElementDofs][W]) {
  for (int r = 0; r < kElementDofs; ++r) {
    T acc[LC][W];
    for (int l = 0; l < LC; ++l)
      for (int w = 0; w < W; ++w) acc[l][w] = T(0);
    for (int s = 0; s < kElementDofs; ++s) {
      T kb[W];
      blend_entry<T, W>(Ke + r * kElementDofs + s, kKeSize, ph, ph_stride, M, kb);
      for (int l = 0; l < LC; ++l)
        for (int w = 0; w < W; ++w) acc[l][w] += kb[w] * ue[l][s][w];
    }
    for (int l = 0; l < LC; ++l)
      for (int w = 0; w < W; ++w) ye[l][r][w] = acc[l][w];
  }
}

// fe[l][r][w] = sum_m ph_m Fe[m][r][l0 + l]: the element load vectors of load cases l0..l0+nl-1.
// Fe: [M, 24, ldf] (ldf = number of load columns).
template <typename T, int W, int LC>
PHNET_HD void element_loads(const T* Fe, int ldf, int l0, const T* ph, int64_t ph_stride, int M,
                            int nl, T (*fe)[kElementDofs][W]) {
  for (int r = 0; r < kElementDofs; ++r)
    for (int l = 0; l < nl; ++l)
      blend_entry<T, W>(Fe + r * ldf + l0 + l, int64_t(kElementDofs) * ldf, ph, ph_stride, M,
                        fe[l][r]);
}

// en[l][w] = ue_l^T Kb ue_l / 2 - ue_l^T fb_l for the LC (compile-time) load cases l0 + l:
// the element's share of the potential energy. Uses the symmetry of Ke (upper triangle only:
// 300 instead of 576 entries). Ke must be symmetric: fem.py builds it so, and the CPU ops
// check it (see checks.h).
template <typename T, int W, int LC>
PHNET_HD void element_energy(const T* Ke, const T* Fe, int ldf, int l0, const T* ph,
                             int64_t ph_stride, int M, const T (*ue)[kElementDofs][W], T (*en)[W]) {
  for (int l = 0; l < LC; ++l)
    for (int w = 0; w < W; ++w) en[l][w] = T(0);
  for (int r = 0; r < kElementDofs; ++r) {
    T kb[W];
    T acc[LC][W];
    blend_entry<T, W>(Ke + r * kElementDofs + r, kKeSize, ph, ph_stride, M, kb);
    for (int l = 0; l < LC; ++l)
      for (int w = 0; w < W; ++w) acc[l][w] = T(0.5) * kb[w] * ue[l][r][w];
    for (int s = r + 1; s < kElementDofs; ++s) {
      blend_entry<T, W>(Ke + r * kElementDofs + s, kKeSize, ph, ph_stride, M, kb);
      for (int l = 0; l < LC; ++l)
        for (int w = 0; w < W; ++w) acc[l][w] += kb[w] * ue[l][s][w];
    }
    for (int l = 0; l < LC; ++l) {
      T fb[W];
      blend_entry<T, W>(Fe + r * ldf + l0 + l, int64_t(kElementDofs) * ldf, ph, ph_stride, M, fb);
      for (int w = 0; w < W; ++w) en[l][w] += ue[l][r][w] * (acc[l][w] - fb[w]);
    }
  }
}

// Phase sensitivity of a bilinear element quantity, for each phase m separately:
//   g[m][w] = sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j]
// (a, u: nl load cases; b: nb load columns of Fe). Every derivative w.r.t. the phase fractions
// (energy, C^H, K u, f) is of this form with suitable a, b (see phnet_cuda/ops.py).
template <typename T, int W, int LC>
PHNET_HD void element_phase_sensitivity(const T* Ke_m, const T* Fe_m, int ldf, int nl, int nb,
                                        const T (*a)[kElementDofs][W],
                                        const T (*u)[kElementDofs][W],
                                        const T (*b)[kElementDofs][W], T* g) {
  for (int w = 0; w < W; ++w) g[w] = T(0);
  for (int r = 0; r < kElementDofs; ++r) {
    T acc[LC][W];
    for (int l = 0; l < LC; ++l)
      for (int w = 0; w < W; ++w) acc[l][w] = T(0);
    for (int s = 0; s < kElementDofs; ++s) {
      const T k = Ke_m[r * kElementDofs + s];
      for (int l = 0; l < nl; ++l)
        for (int w = 0; w < W; ++w) acc[l][w] += k * u[l][s][w];
    }
    for (int l = 0; l < nl; ++l)
      for (int w = 0; w < W; ++w) g[w] += a[l][r][w] * acc[l][w];
    for (int j = 0; j < nb; ++j) {
      const T f = Fe_m[r * ldf + j];
      for (int w = 0; w < W; ++w) g[w] += b[j][r][w] * f;
    }
  }
}

// Voxel-average strain of the displacement ue (engineering Voigt order), which for trilinear
// hexahedra equals the average over the 2 x 2 x 2 Gauss points and the strain at the centre:
// d N_nd / d x_d = +-1 / (4 h) there. inv_h = 1 / h = n.
template <typename T, int W>
PHNET_HD void element_center_strain(const T (*ue)[W], T inv_h, T (*eps)[W]) {
  T grad[3][3][W];  // grad[c][d] = d u_c / d x_d
  for (int c = 0; c < 3; ++c)
    for (int d = 0; d < 3; ++d)
      for (int w = 0; w < W; ++w) grad[c][d][w] = T(0);
  const T q = T(0.25) * inv_h;
  for (int nd = 0; nd < 8; ++nd) {
    const T sx = (nd >> 2) ? q : -q;
    const T sy = ((nd >> 1) & 1) ? q : -q;
    const T sz = (nd & 1) ? q : -q;
    for (int c = 0; c < 3; ++c)
      for (int w = 0; w < W; ++w) {
        const T v = ue[3 * nd + c][w];
        grad[c][0][w] += sx * v;
        grad[c][1][w] += sy * v;
        grad[c][2][w] += sz * v;
      }
  }
  for (int w = 0; w < W; ++w) {
    eps[0][w] = grad[0][0][w];
    eps[1][w] = grad[1][1][w];
    eps[2][w] = grad[2][2][w];
    eps[3][w] = grad[1][2][w] + grad[2][1][w];
    eps[4][w] = grad[0][2][w] + grad[2][0][w];
    eps[5][w] = grad[0][1][w] + grad[1][0][w];
  }
}

// cb[p*6+q][w] = sum_m ph_m C[m][p][q]: the voxel's blended stiffness. C: [M, 6, 6].
template <typename T, int W>
PHNET_HD void blend_stiffness(const T* C, const T* ph, int64_t ph_stride, int M, T (*cb)[W]) {
  for (int pq = 0; pq < kVoigt * kVoigt; ++pq)
    blend_entry<T, W>(C + pq, kVoigt * kVoigt, ph, ph_stride, M, cb[pq]);
}

// sig[p][w] = sum_q cb[p*6+q][w] eps[q][w] (cb from blend_stiffness).
template <typename T, int W>
PHNET_HD void element_stress(const T (*cb)[W], const T (*eps)[W], T (*sig)[W]) {
  for (int p = 0; p < kVoigt; ++p) {
    for (int w = 0; w < W; ++w) sig[p][w] = T(0);
    for (int q = 0; q < kVoigt; ++q)
      for (int w = 0; w < W; ++w) sig[p][w] += cb[p * kVoigt + q][w] * eps[q][w];
  }
}

}  // namespace phnet

// Element math in the Walsh-Hadamard basis: the same products as element_math.h, for element
// matrices of the trilinear hexahedron with 2 x 2 x 2 Gauss quadrature, at a fifth of the cost.
//
// Why it works (derived in phnet_cuda/walsh.py, proved against the dense Ke by its tests):
// with Wf = [[1, 1], [1, -1]]^(x3) (x) I_3 ([24, 24], symmetric, Wf Wf = 8 I), such a Ke becomes
// Kt = Wf Ke Wf / 64, which has non-zeros only in 19 fixed 3 x 3 blocks: the diagonal blocks of
// Walsh modes p = 1..7 and the 12 off-diagonal blocks (p, q) of the partner pairs below. Mode 0
// (rigid translation) couples to nothing. Likewise Ft = Wf Fe / 8 is non-zero only in the rows of
// the three modes linear in one direction (p = 4, 2, 1). So, with x = Wf u_e (the element's dofs
// in the Walsh basis, u_e as in element_math.h: dof 3 nd + component),
//
//   Ke u_e       = Wf (Kt x)                      (171 multiply-adds instead of 576)
//   Ke u_e - fe  = Wf (Kt x - Ft[:, l])
//   u^T Ke u / 2 - u^T fe = x^T (Kt x / 2 - Ft[:, l])
//
// and a transform Wf costs 72 additions (three butterfly stages over the 8 nodes, 3 components).
// The sparsity pattern is fixed here at compile time; the values (171 per phase for Kt, 9 rows x L
// for Ft) come per sample from walsh_basis.h, which also checks that a Ke has this structure (an
// arbitrary Ke passed to the ops keeps the dense path of element_math.h).
//
// Value layout of Kt ([171] per phase): the diagonal block of mode p (1..7) at 9 (p - 1), then the
// block (p, kWalshPartner[p][s]) of mode p (1..6) and its partner s (0, 1) at 63 + 9 (2 (p - 1) +
// s); entry (i, j) of a block at + 3 i + j (row component i of mode p, column component j). Ft ([9,
// L] per phase): row 3 r + i is component i of mode kWalshLinearMode[r] (r = x, y, z).
#pragma once

#include "element_math.h"

// A loop over the lanes of a voxel chunk: the compiler must vectorise it across lanes (with the
// loops inside it unrolled, GCC otherwise unrolled the lanes too and left scalar code, 8x slower).
#if defined(__CUDACC__) || !defined(_OPENMP)
#define PHNET_LANE_LOOP
#else
#define PHNET_LANE_LOOP _Pragma("omp simd")
#endif

namespace phnet {

constexpr int kWalshModes = 8;
constexpr int kWalshValues = 171;  // 7 diagonal + 12 off-diagonal 3 x 3 blocks
constexpr int kWalshOffDiagonal = 63;
constexpr int kWalshLoadRows = 9;  // modes 4, 2, 1 x 3 components

// The two modes that mode p couples to besides itself: q = p ^ e_k ^ e_l for the axes k != l with
// bit k of p set and bit l clear (walsh.py). Mode 7 (and the rigid mode 0) have none.
constexpr int kWalshPartner[kWalshModes][2] = {{-1, -1}, {4, 2}, {4, 1}, {5, 6},
                                               {2, 1},   {3, 6}, {3, 5}, {-1, -1}};
// The modes linear in x, y, z: the only rows of Ft that can be non-zero.
constexpr int kWalshLinearMode[3] = {4, 2, 1};

// Offset in the Kt values of entry (i, j) of block (p, q), or -1 outside the pattern.
PHNET_HD int walsh_value_index(int p, int q, int i, int j) {
  if (p == 0 || q == 0) return -1;
  if (p == q) return 9 * (p - 1) + 3 * i + j;
  for (int s = 0; s < 2; ++s)
    if (kWalshPartner[p][s] == q) return kWalshOffDiagonal + 9 * (2 * (p - 1) + s) + 3 * i + j;
  return -1;
}

// In-place Walsh transform of the 8 node values of every component, per lane:
// v[3 p + c] <- sum_nd (-1)^popcount(p & nd) v[3 nd + c]. Its own inverse up to a factor 8.
template <typename T, int W>
PHNET_HD void walsh_transform(T (*v)[W]) {
  // Every loop but the lanes' unrolled, so each butterfly is a straight-line vector add and
  // subtract (left as loops over the stages, GCC kept the butterflies scalar).
#pragma GCC unroll 3
  for (int bit = 4; bit > 0; bit >>= 1)
#pragma GCC unroll 8
    for (int m = 0; m < kWalshModes; ++m)
      if (!(m & bit))
#pragma GCC unroll 3
        for (int c = 0; c < 3; ++c) PHNET_LANE_LOOP
  for (int w = 0; w < W; ++w) {
    const T s = v[3 * m + c][w], t = v[3 * (m | bit) + c][w];
    v[3 * m + c][w] = s + t;
    v[3 * (m | bit) + c][w] = s - t;
  }
}

// kb[v][w] = sum_m ph_m Kt[m][v] for the 171 values (per lane), or for M == 1 the values
// themselves (the caller scales by the phase: one matrix times a per-voxel scalar).
template <typename T, int W>
PHNET_HD void walsh_blend(const T* Kt, const T* ph, int64_t ph_stride, int M,
                          T (*kb)[W] /* [kWalshValues][W] */) {
  for (int v = 0; v < kWalshValues; ++v)
    blend_entry<T, W>(Kt + v, kWalshValues, ph, ph_stride, M, kb[v]);
}

// y[l] = Kt x[l] for LC load cases, Kt given per lane (kb from walsh_blend). Rows of mode 0 are 0.
template <typename T, int W, int LC>
PHNET_HD void walsh_matvec(const T (*kb)[W], const T (*x)[kElementDofs][W],
                           T (*y)[kElementDofs][W]) {
  // The loop structure of walsh_matvec_scaled (a straight-line body per lane).
  for (int l = 0; l < LC; ++l) PHNET_LANE_LOOP
  for (int w = 0; w < W; ++w) {
    T xv[kElementDofs];
#pragma GCC unroll 24
    for (int r = 3; r < kElementDofs; ++r) xv[r] = x[l][r][w];
    y[l][0][w] = y[l][1][w] = y[l][2][w] = T(0);
#pragma GCC unroll 7
    for (int p = 1; p < kWalshModes; ++p)
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
        T acc = T(0);
#pragma GCC unroll 3
        for (int j = 0; j < 3; ++j) acc += kb[9 * (p - 1) + 3 * i + j][w] * xv[3 * p + j];
        if (p < 7)
#pragma GCC unroll 2
          for (int s = 0; s < 2; ++s)
#pragma GCC unroll 3
            for (int j = 0; j < 3; ++j)
              acc += kb[kWalshOffDiagonal + 9 * (2 * (p - 1) + s) + 3 * i + j][w] *
                     xv[3 * kWalshPartner[p][s] + j];
        y[l][3 * p + i][w] = acc;
      }
  }
}

// The same product for one shared matrix Kt (171 scalars) scaled per lane by rho:
// y[l] = rho Kt x[l]. The scale is applied once per output row, after the sums.
template <typename T, int W, int LC>
PHNET_HD void walsh_matvec_scaled(const T* Kt, const T* rho, const T (*x)[kElementDofs][W],
                                  T (*y)[kElementDofs][W]) {
  // Lane loop innermost but around a straight-line body (every mode, component and partner
  // loop unrolled, so the pattern is constant): the compiler vectorises it across lanes.
  for (int l = 0; l < LC; ++l) PHNET_LANE_LOOP
  for (int w = 0; w < W; ++w) {
    T xv[kElementDofs];
#pragma GCC unroll 24
    for (int r = 3; r < kElementDofs; ++r) xv[r] = x[l][r][w];
    y[l][0][w] = y[l][1][w] = y[l][2][w] = T(0);
#pragma GCC unroll 7
    for (int p = 1; p < kWalshModes; ++p)
#pragma GCC unroll 3
      for (int i = 0; i < 3; ++i) {
        T acc = T(0);
#pragma GCC unroll 3
        for (int j = 0; j < 3; ++j) acc += Kt[9 * (p - 1) + 3 * i + j] * xv[3 * p + j];
        if (p < 7)
#pragma GCC unroll 2
          for (int s = 0; s < 2; ++s)
#pragma GCC unroll 3
            for (int j = 0; j < 3; ++j)
              acc += Kt[kWalshOffDiagonal + 9 * (2 * (p - 1) + s) + 3 * i + j] *
                     xv[3 * kWalshPartner[p][s] + j];
        y[l][3 * p + i][w] = rho[w] * acc;
      }
  }
}

// ft[l][r][w] = sum_m ph_m Ft[m][r][l0 + l] for the 9 load rows (Ft: [M, 9, ldf]).
template <typename T, int W, int LC>
PHNET_HD void walsh_loads(const T* Ft, int ldf, int l0, const T* ph, int64_t ph_stride, int M,
                          int nl, T (*ft)[kWalshLoadRows][W]) {
  for (int r = 0; r < kWalshLoadRows; ++r)
    for (int l = 0; l < nl; ++l)
      blend_entry<T, W>(Ft + r * ldf + l0 + l, int64_t(kWalshLoadRows) * ldf, ph, ph_stride, M,
                        ft[l][r]);
}

// en[l][w] = x_l^T (y_l / 2 - ft_l): the element's potential energy of load case l from its Walsh
// dofs x_l, y_l = Kt_e x_l (walsh_apply) and the blended load rows ft (walsh_loads).
template <typename T, int W, int LC>
PHNET_HD void walsh_energy(const T (*x)[kElementDofs][W], const T (*y)[kElementDofs][W],
                           const T (*ft)[kWalshLoadRows][W], T (*en)[W]) {
  for (int l = 0; l < LC; ++l) {
    for (int w = 0; w < W; ++w) en[l][w] = T(0);
    for (int r = 3; r < kElementDofs; ++r)
      for (int w = 0; w < W; ++w) en[l][w] += x[l][r][w] * (T(0.5) * y[l][r][w]);
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < 3; ++i)
        for (int w = 0; w < W; ++w)
          en[l][w] -= x[l][3 * kWalshLinearMode[r] + i][w] * ft[l][3 * r + i][w];
  }
}

// y_l <- y_l - ft_l on the load rows: Kt_e x_l - Ft_e[:, l], the residual in the Walsh basis.
template <typename T, int W>
PHNET_HD void walsh_subtract_loads(const T (*ft)[W], T (*y)[W]) {
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 3; ++i)
      for (int w = 0; w < W; ++w) y[3 * kWalshLinearMode[r] + i][w] -= ft[3 * r + i][w];
}

// The voxel chunk's blended Kt for M > 1 (once per chunk, for all its load cases); nothing for
// M == 1, whose products scale the shared matrix instead (walsh_apply).
template <typename T, int W>
PHNET_HD void walsh_blend_once(int M, const T* ph, const T* Kt, T (*kb)[W]) {
  if (M > 1) walsh_blend<T, W>(Kt, ph, W, M, kb);
}

// ue[l] <- Wf ue[l] and ye[l] = Kt_e (Wf ue[l]) (Walsh basis; the caller transforms ye back) for
// LC load cases: the shared Kt scaled by the voxel's phase when M == 1, else the blend kb.
template <typename T, int W, int LC>
PHNET_HD void walsh_apply(const T* Kt, const T* ph, int M, const T (*kb)[W],
                          T (*ue)[kElementDofs][W], T (*ye)[kElementDofs][W]) {
  for (int l = 0; l < LC; ++l) walsh_transform<T, W>(ue[l]);
  if (M == 1)
    walsh_matvec_scaled<T, W, LC>(Kt, ph, ue, ye);
  else
    walsh_matvec<T, W, LC>(kb, ue, ye);
}

}  // namespace phnet

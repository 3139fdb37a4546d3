// Loop skeletons of the CPU kernels: voxels are visited in x-planes (b, i), each plane row by
// row (j), each row in chunks of lanes<T>() voxels along z that the element routines of
// element_math.h process as SIMD lanes. A kernel is
//
//   for_each_plane[_colored](B, n, [&](int64_t b, int64_t i) {
//     ... per-plane pointers (and scratch arrays) ...
//     for_each_voxel_chunk<W>(n, [=, &scratch...](int j, int k0, int wv) PHNET_ALWAYS_INLINE {
//       ... (scratch arrays) element routines for voxels (i, j, k0 .. k0 + wv - 1) ...
//     });
//   });
//
// The chunk body takes the plane's values by copy and its scratch arrays by reference, or
// declares the arrays itself. Both mean the same to C++, not to GCC: with -ffp-contract=fast
// it fuses a different set of multiply-adds into FMAs depending on the shape of the loop nest
// (results change in the last bits), and it inlines and vectorises differently (times of
// forms with bitwise identical results differed by up to 2.5x). Each kernel uses the form
// whose results are bitwise identical to its earlier hand-written loop and whose time is no
// worse (benchmarks/kernels.py); stiffness_apply and energy_loss keep the hand-written loop,
// as no form with the skeleton met both.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "element_math.h"

// Forces inlining where GCC's own choice is not good enough: a kernel is fast when its whole
// loop nest is compiled as one function (registers and vectorisation of the element routines
// across the chunk loop). Left to GCC's heuristics, or with __attribute__((flatten)), the
// factored-out chunk loop made kernels 0.25x-3x as fast as the hand-written one.
#define PHNET_ALWAYS_INLINE __attribute__((always_inline))

namespace phnet {

// Voxels per lane chunk: 8 floats or 4 doubles fill one AVX2 register, so that the
// accumulators of six load cases fit the 16 vector registers.
template <typename T>
constexpr int lanes() {
  return sizeof(T) == 4 ? 8 : 4;
}

// body(b, i) for every plane; planes are independent (each writes only its own outputs).
template <typename F>
void for_each_plane(int64_t B, int64_t n, const F& body) {
  at::parallel_for(0, B * n, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) body(t / n, t % n);
  });
}

// body(b, i) for every plane, for kernels that scatter-add into the nodes of their voxels:
// plane i writes node planes i and i+1 (mod n). Even planes run together, then odd planes, so
// no two concurrent planes share a node plane; for odd n the last plane (which wraps onto node
// plane 0) runs on its own. Deterministic: each node's sum is formed in a fixed order.
template <typename F>
void for_each_plane_colored(int64_t B, int64_t n, const F& body) {
  const int64_t half = n / 2;  // planes 2p + colour, p < half
  for (int64_t colour = 0; colour < 2; ++colour) {
    at::parallel_for(0, B * half, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) body(t / half, 2 * (t % half) + colour);
    });
  }
  if (n % 2 == 1) {
    at::parallel_for(0, B, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) body(b, n - 1);
    });
  }
}

// body(j, k0, wv) for every lane chunk of one plane: rows j = 0..n-1 and in each row the chunks
// k0 = 0, W, 2W, ... of W voxels along z, of which the first wv = min(W, n - k0) are voxels of
// the grid (the rest are padding lanes). Always inlined, and the kernels mark their body lambda
// PHNET_ALWAYS_INLINE too, so the compiler sees the same loop nest as a hand-written one.
template <int W, typename F>
PHNET_ALWAYS_INLINE inline void for_each_voxel_chunk(int n, const F& body) {
  for (int j = 0; j < n; ++j) {
    for (int k0 = 0; k0 < n; k0 += W) {
      const int wv = std::min(W, n - k0);
      body(j, k0, wv);
    }
  }
}

// ph[m][w] = phase[m, i, j, k0 + w] (0 for padding lanes). phase_b: [M, n, n, n] of sample b.
template <typename T, int W>
inline void load_phases(const T* phase_b, int64_t nn, int M, int n, int i, int j, int k0, int wv,
                        T* ph /* [M][W] */) {
  const T* row = phase_b + (static_cast<int64_t>(i) * n + j) * n + k0;
  for (int m = 0; m < M; ++m)
    for (int w = 0; w < W; ++w) ph[m * W + w] = w < wv ? row[m * nn + w] : T(0);
}

// Pointer to matrices of sample b in a [B or 1, M, rows, cols] tensor.
template <typename T>
inline const T* sample_matrices(const T* base, int64_t batch, int64_t b, int64_t per_sample) {
  return base + (batch == 1 ? 0 : b * per_sample);
}

// Calls f(std::integral_constant<int, NL>) for the runtime load count nl in 1..kMaxLoadChunk,
// so element routines see a compile-time load count.
template <typename F>
inline void dispatch_loads(int nl, const F& f) {
  switch (nl) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    default: f(std::integral_constant<int, 6>{}); break;
  }
}

}  // namespace phnet

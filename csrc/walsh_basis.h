// Host side of the Walsh-basis element math (walsh_math.h): the per-sample values of Kt and Ft
// from the dense element matrices the ops receive, and the check that they have the structure of
// the trilinear hexahedron with 2 x 2 x 2 Gauss quadrature (the ops also accept any other
// symmetric Ke, which keeps the dense path).
#pragma once

#include <ATen/core/Tensor.h>

namespace phnet {

// Kt = Wf Ke Wf / 64 restricted to its 171 structural non-zeros: [B|1, M, 171] in the dtype of
// Ke, or an undefined tensor when some entry outside the pattern is larger than
// 64 eps(dtype) times the largest entry of its Kt (then Ke is not of the hexahedron's form).
// Ke: [B|1, M, 24, 24], CPU.
at::Tensor walsh_stiffness_values(const at::Tensor& Ke);

// Ft = Wf Fe / 8 on its 9 structural non-zero rows: [B|1, M, 9, L] in the dtype of Fe, or an
// undefined tensor when Fe is not of the form (same rule). Fe: [B|1, M, 24, L], CPU.
at::Tensor walsh_load_values(const at::Tensor& Fe);

}  // namespace phnet

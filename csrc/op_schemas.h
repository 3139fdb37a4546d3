// The schemas of the ops, shared by the op library (registration.cpp, namespace phnet) and the
// SIMT emulator's test library (simt/registration.cpp, namespace phnet_simt), so that both
// declare exactly the same ops.
#pragma once

namespace phnet {

inline constexpr const char* kOpSchemas[] = {
    // K u for the periodic trilinear-hex stiffness with per-voxel Ke_e = sum_m phase[m] Ke[m].
    // u [B, L, 3, n, n, n], phase [B, M, n, n, n], Ke [B|1, M, 24, 24] -> [B, L, 3, n, n, n]
    "stiffness_apply(Tensor u, Tensor phase, Tensor Ke) -> Tensor",
    // Assembled load vectors f_l = sum_e Fe_e[:, l]. phase [B, M, n, n, n], Fe [B|1, M, 24, L]
    // -> [B, L, 3, n, n, n]
    "load_vectors(Tensor phase, Tensor Fe) -> Tensor",
    // Fused potential energies u_l^T K u_l / 2 - u_l^T f_l -> [B, L] (no K u materialised).
    "energy_loss(Tensor u, Tensor phase, Tensor Ke, Tensor Fe) -> Tensor",
    // grad[b, l] * (K u_l - f_l) in one pass -> [B, L, 3, n, n, n].
    "energy_loss_backward(Tensor grad, Tensor u, Tensor phase, Tensor Ke, Tensor Fe) -> Tensor",
    // Energy form of the homogenized tensor, summed over the cell (= |Omega| C^H):
    // sum_e [Ce_e - u_i.fe_j - u_j.fe_i + u_i^T Ke_e u_j], Ce [B|1, M, L, L] -> [B, L, L]
    "homogenized_tensor(Tensor u, Tensor phase, Tensor Ke, Tensor Fe, Tensor Ce) -> Tensor",
    // Per-voxel, per-phase sensitivity sum_l a_l^T Ke[m] u_l + sum_j b_j . Fe[m][:, j]
    // a, u [B, L, 3, n, n, n], b [B, J, 3, n, n, n], Fe [B|1, M, 24, J] -> [B, M, n, n, n]
    "phase_gradient(Tensor a, Tensor u, Tensor b, Tensor Ke, Tensor Fe) -> Tensor",
    // Voxel-average strain and stress: eps_l = macro_strain[l] - B u_l, sig_l = C_e eps_l.
    // u [B, L, 3, n, n, n], phase [B, M, n, n, n], C [B|1, M, 6, 6], macro_strain [B, L, 6]
    // -> (strain [B, L, 6, n, n, n], stress [B, L, 6, n, n, n])
    "element_fields(Tensor u, Tensor phase, Tensor C, Tensor macro_strain) -> (Tensor, Tensor)",
};

}  // namespace phnet

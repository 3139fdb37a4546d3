"""Matplotlib figures (Agg backend, PNG files): Young's-modulus surfaces and field slices.

Conventions: C^H ``[6, 6]`` Voigt (order xx yy zz yz xz xy, engineering shears, unit of E);
voxel arrays and scalar fields ``[n, n, n]`` over the reference cube (axes x, y, z). Slices of a
parallelepiped cell (``shape=``, ``phnet_cuda.shapes``) are drawn in their true, sheared
geometry: the slice spanned by the lattice vectors a_p, a_q is shown in an orthonormal frame of
its own plane (first axis along a_p).

Every ``plot_*`` function writes one PNG and returns its path.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from .. import shapes
from .tensor import _check_stiffness, directional_young, relative_error, sphere_directions

_AXIS_NAMES = "xyz"


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window (also on headless machines)
    import matplotlib.pyplot as plt
    return plt


def _check_path(path) -> str:
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"path must end in .png, got {path!r}")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return path


# ------------------------------------------------------------------------------ E surface
def young_surface(CH, resolution: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Points r(d) = E(d) d of the Young's-modulus surface and E(d) on a latitude-longitude grid.

    Args:
        CH: stiffness ``[6, 6]`` (unit of E).
        resolution: polar steps (``post.sphere_directions``).
    Returns:
        r ``[resolution + 1, 2 resolution + 1, 3]`` and E ``[resolution + 1, 2 resolution + 1]``
        (numpy float64, unit of CH).
    """
    C = _check_stiffness(CH)
    if C.shape != (6, 6):
        raise ValueError(f"CH must be [6, 6], got shape {tuple(C.shape)}")
    d = sphere_directions(resolution)
    E = directional_young(C, d)
    return (E[..., None] * d).numpy(), E.numpy()


def draw_young_surface(ax, CH, *, resolution: int = 48, norm=None, cmap: str = "viridis", limit=None):
    """Draw the E(d) surface of ``CH`` ``[6, 6]`` on a 3D axes ``ax``, coloured by E(d).

    ``norm`` (a matplotlib Normalize) fixes the colour scale (shared between panels),
    ``limit`` the half-width of the equal x, y, z axis ranges. Returns the ScalarMappable for a
    colour bar."""
    import matplotlib
    import matplotlib.cm as cm
    import matplotlib.colors as mcolors
    r, E = young_surface(CH, resolution)
    norm = norm or mcolors.Normalize(vmin=float(E.min()), vmax=float(E.max()))
    cmap_obj = matplotlib.colormaps[cmap]
    ax.plot_surface(r[..., 0], r[..., 1], r[..., 2], facecolors=cmap_obj(norm(E)), rstride=1, cstride=1,
                    linewidth=0, antialiased=False, shade=False)
    lim = float(limit if limit is not None else np.abs(r).max())
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-lim, lim)
    ax.set_box_aspect((1, 1, 1))
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    mappable = cm.ScalarMappable(norm=norm, cmap=cmap_obj)
    mappable.set_array(E)
    return mappable


def plot_young_surface(CH, path, *, title: str | None = None, resolution: int = 48, unit: str = "",
                       dpi: int = 110) -> str:
    """PNG of the 3D Young's-modulus surface r(d) = E(d) d of one C^H ``[6, 6]``, coloured by
    E(d), with E_min / E_max in the title (``unit`` is appended to the colour-bar label)."""
    plt = _pyplot()
    path = _check_path(path)
    _, E = young_surface(CH, resolution)
    fig = plt.figure(figsize=(6.4, 5.6))
    ax = fig.add_subplot(projection="3d")
    mappable = draw_young_surface(ax, CH, resolution=resolution)
    fig.colorbar(mappable, ax=ax, shrink=0.7, label=f"E(d) {unit}".strip())
    head = title or "Young's modulus surface"
    ax.set_title(f"{head}\nE_min = {E.min():.4g}, E_max = {E.max():.4g} {unit}".rstrip())
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_young_surfaces(CH_ref, CH_other, path, *, labels=("numerical", "predicted"), resolution: int = 48,
                        unit: str = "", dpi: int = 110) -> str:
    """PNG with the E(d) surfaces of two C^H ``[6, 6]`` side by side (e.g. numerical vs PH-Net),
    on one colour scale and equal axes, titled with ||C_ref - C_other||_F / ||C_ref||_F."""
    import matplotlib.colors as mcolors
    plt = _pyplot()
    path = _check_path(path)
    if len(labels) != 2:
        raise ValueError(f"labels must be two strings, got {labels!r}")
    (r1, E1), (r2, E2) = young_surface(CH_ref, resolution), young_surface(CH_other, resolution)
    norm = mcolors.Normalize(vmin=float(min(E1.min(), E2.min())), vmax=float(max(E1.max(), E2.max())))
    limit = float(max(np.abs(r1).max(), np.abs(r2).max()))
    fig = plt.figure(figsize=(12, 5.4))
    mappable = None
    for k, (C, label, E) in enumerate(((CH_ref, labels[0], E1), (CH_other, labels[1], E2))):
        ax = fig.add_subplot(1, 2, k + 1, projection="3d")
        mappable = draw_young_surface(ax, C, resolution=resolution, norm=norm, limit=limit)
        ax.set_title(f"{label}: E from {E.min():.4g} to {E.max():.4g} {unit}".rstrip())
    fig.colorbar(mappable, ax=fig.axes, shrink=0.7, label=f"E(d) {unit}".strip())
    fig.suptitle(f"Young's modulus surfaces, relative error ||C1 - C2||_F / ||C1||_F = "
                 f"{float(relative_error(CH_other, CH_ref)):.3e}")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------ slices
def _field3(x, name: str, n: int | None = None) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3 or len(set(a.shape)) != 1:
        raise ValueError(f"{name} must be a field [n, n, n] (or [1, n, n, n]), got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has n = {a.shape[0]}, expected {n} like the other field")
    return a.astype(np.float64)


def slice_geometry(n: int, shape=None, axis: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2D coordinates of a slice of the cell normal to cube axis ``axis`` (0, 1, 2).

    The slice is spanned by the lattice vectors a_p, a_q (p < q the other two axes); it is drawn
    in an orthonormal frame of its plane: e1 = a_p / |a_p|, e2 the unit part of a_q orthogonal
    to e1. Lengths are those of the cell scaled to unit volume.
    Returns (X, Y) of the (n + 1)^2 voxel corners and (Xc, Yc) of the n^2 voxel centres, each
    indexed [i_p, i_q]."""
    if axis not in (0, 1, 2):
        raise ValueError(f"axis must be 0, 1 or 2 (x, y, z), got {axis!r}")
    J = np.eye(3) if shape is None else shapes.unit_volume(shapes.lattice_matrix(shape)).numpy()
    if J.ndim != 2:
        raise ValueError(f"shape must describe one cell [6], got a batch of {J.shape[0]}")
    p, q = [k for k in range(3) if k != axis]
    a_p, a_q = J[:, p], J[:, q]
    e1 = a_p / np.linalg.norm(a_p)
    t = a_q - (a_q @ e1) * e1
    e2 = t / np.linalg.norm(t)
    basis = np.array([[a_p @ e1, a_q @ e1], [a_p @ e2, a_q @ e2]])  # 2D images of a_p, a_q

    def grid(coords):
        s, r = np.meshgrid(coords, coords, indexing="ij")
        return basis[0, 0] * s + basis[0, 1] * r, basis[1, 0] * s + basis[1, 1] * r

    X, Y = grid(np.arange(n + 1) / n)
    Xc, Yc = grid((np.arange(n) + 0.5) / n)
    return X, Y, Xc, Yc


def plot_slices(field, path, *, vox=None, shape=None, axis: int = 2, indices=None, title: str | None = None,
                label: str = "", cmap: str = "inferno", mask_void: bool = False, log: bool = False,
                dpi: int = 110) -> str:
    """PNG of slices of a scalar field ``[n, n, n]`` (or of the voxel cell itself).

    Args:
        field: ``[n, n, n]`` values (e.g. von Mises stress); None plots ``vox``.
        vox: cell ``[n, n, n]``; its 0.5 contour (the solid boundary) is drawn on each slice.
        shape: cell parameters for the true slice geometry (``slice_geometry``); None = cube.
        axis: slice normal as cube axis 0, 1, 2 (x, y, z); indices: slice indices (default
            n/4, n/2, 3n/4).
        mask_void: hide voxels with vox < 0.5 (fields that matter in the solid only).
        log: logarithmic colour scale (positive values).
    All panels share one colour scale."""
    import matplotlib.colors as mcolors
    plt = _pyplot()
    path = _check_path(path)
    if field is None and vox is None:
        raise ValueError("give field or vox (or both), got neither")
    v = None if vox is None else _field3(vox, "vox")
    f = _field3(field, "field", None if v is None else v.shape[0]) if field is not None else v
    n = f.shape[0]
    if indices is None:
        indices = sorted({max(0, min(n - 1, int(round(n * c)))) for c in (0.25, 0.5, 0.75)})
    indices = [int(i) for i in indices]
    if not indices or any(not 0 <= i < n for i in indices):
        raise ValueError(f"indices must be slice indices in [0, {n - 1}], got {indices!r}")
    X, Y, Xc, Yc = slice_geometry(n, shape, axis)

    def take(a, i):
        return np.take(a, i, axis=axis)

    slices = [take(f, i) for i in indices]
    if mask_void and v is not None:
        slices = [np.ma.masked_where(take(v, i) < 0.5, s) for i, s in zip(indices, slices)]
    values = np.concatenate([np.ma.compressed(np.ma.asarray(s)).ravel() for s in slices])
    if values.size == 0:
        values = np.zeros(1)
    if log:
        pos = values[values > 0]
        lo = float(pos.min()) if pos.size else 1e-12
        norm = mcolors.LogNorm(vmin=lo, vmax=max(float(values.max()), lo * 10))
    else:
        norm = mcolors.Normalize(vmin=float(values.min()), vmax=float(values.max()))
    fig, axes = plt.subplots(1, len(indices), figsize=(4.3 * len(indices) + 1.2, 4.2), squeeze=False)
    p, q = [k for k in range(3) if k != axis]
    mesh = None
    for ax, i, s in zip(axes[0], indices, slices):
        mesh = ax.pcolormesh(X, Y, s, cmap=cmap if field is not None else "gray_r", norm=norm, shading="flat")
        if v is not None and field is not None:
            cut = take(v, i)
            if cut.min() < 0.5 < cut.max():
                ax.contour(Xc, Yc, cut, levels=[0.5], colors="cyan", linewidths=0.6)
        ax.set_aspect("equal")
        ax.set_title(f"{_AXIS_NAMES[axis]}-slice {i} / {n}")
        ax.set_xlabel(f"e1 (along a{p + 1})")
        ax.set_ylabel("e2")
    fig.colorbar(mesh, ax=list(axes[0]), shrink=0.85, label=label)
    fig.suptitle(title or ("cell" if field is None else "field slices"))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_convergence(history, path, *, title: str = "solver convergence", dpi: int = 110) -> str:
    """PNG of a residual history (``HomogenizationResult.history``) on a log axis."""
    plt = _pyplot()
    path = _check_path(path)
    h = [float(x) for x in history]
    if not h or not all(math.isfinite(x) and x > 0 for x in h):
        raise ValueError(f"history must be a non-empty list of positive residuals, got {history!r}")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.semilogy(h)
    ax.set_xlabel("iteration")
    ax.set_ylabel("max relative residual")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


__all__ = ["draw_young_surface", "plot_convergence", "plot_slices", "plot_young_surface", "plot_young_surfaces",
           "slice_geometry", "young_surface"]

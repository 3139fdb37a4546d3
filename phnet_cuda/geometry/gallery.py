"""Picture sheets of the microstructure library (``phnet gallery``): one panel per cell type with
its name and volume fraction, as a shaded 3D isosurface (``skimage.measure.marching_cubes`` drawn
with matplotlib's ``Poly3DCollection``) or as a mid-slice (faster)."""

from __future__ import annotations

import math
import os

import numpy as np

from .library import FAMILIES, cell_family, cell_types, make_cell, reachable_range

_COLOURS = {"tpms_sheet": (0.20, 0.45, 0.80), "tpms_network": (0.80, 0.40, 0.15), "truss": (0.25, 0.60, 0.35)}
_LIGHT = np.array([0.45, -0.55, 0.70]) / np.linalg.norm([0.45, -0.55, 0.70])


def _cell_for_panel(name: str, n: int, vf: float, fractional: bool):
    """(voxels or None, volume fraction used, note): the target is clamped to the type's
    reachable range at this n so every type gets a picture."""
    try:
        lo, hi = reachable_range(name, n)
    except ValueError:
        return None, None, f"not drawable at n = {n}"
    use = min(max(vf, lo), hi)
    vox = make_cell(name, n, use, fractional=fractional).numpy()
    return vox, float(vox.mean()), "" if use == vf else f" (range {lo:.2f}-{hi:.2f})"


def _draw_iso(ax, vox: np.ndarray, colour, step_size: int) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    from skimage.measure import marching_cubes

    n = vox.shape[0]
    # Zero padding closes the solid at the cell faces, so the cut through the cell is visible.
    padded = np.pad(vox.astype(np.float32), 1)
    if padded.max() <= 0.5 or padded.min() >= 0.5:
        ax.set_axis_off()
        return
    verts, faces, _, _ = marching_cubes(padded, level=0.5, step_size=step_size, allow_degenerate=False)
    tri = verts[faces] - 1.0
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True).clip(1e-12)
    shade = 0.35 + 0.65 * np.abs(normals @ _LIGHT)
    colours = np.clip(np.outer(shade, colour), 0, 1)
    ax.add_collection3d(Poly3DCollection(tri, facecolors=colours, edgecolors="none", linewidths=0))
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(0, n)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=22, azim=-58)
    ax.set_axis_off()


def _draw_slice(ax, vox: np.ndarray) -> None:
    k = vox.shape[2] // 2
    ax.imshow(vox[:, :, k].T, origin="lower", cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def render_gallery(out_dir: str, *, n: int = 32, volume_fraction: float = 0.15, families=None, names=None,
                   style: str = "iso", columns: int = 8, per_page: int = 48, step_size: int = 1,
                   progress: bool = True) -> list[str]:
    """Write PNG sheets showing library cell types, one panel each (name and volume fraction).

    Args:
        out_dir: folder for ``gallery_<family>[_<page>].png`` (created).
        n: voxels per edge of the pictured cells (32 keeps a full gallery to a few minutes on
            two CPU cores).
        volume_fraction: target solid fraction, clamped per type to ``reachable_range``.
        families: families to draw (default all); names: explicit type names (default all of
            those families).
        style: ``"iso"`` (3D isosurface) or ``"slice"`` (the z mid-slice, fast).
        columns, per_page: panels per row and per PNG; step_size: marching-cubes step (2 halves
            the triangles).
        progress: tqdm progress bar.

    Returns:
        The paths of the written PNGs.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    if style not in ("iso", "slice"):
        raise ValueError(f"style: expected 'iso' or 'slice', got {style!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise ValueError(f"n: expected an int >= 4, got {n!r}")
    if not 0.0 < volume_fraction < 1.0:
        raise ValueError(f"volume_fraction: expected a number in (0, 1), got {volume_fraction!r}")
    families = list(FAMILIES) if families is None else list(families)
    for fam in families:
        if fam not in FAMILIES:
            raise ValueError(f"families: unknown family {fam!r}; expected some of {FAMILIES}")
    if names is not None:
        names = list(names)
        for name in names:
            cell_family(name)  # ValueError with close matches for unknown names
    os.makedirs(out_dir, exist_ok=True)
    groups = []
    for fam in families:
        members = [m for m in cell_types(fam) if names is None or m in names]
        for start in range(0, len(members), per_page):
            groups.append((fam, start // per_page, math.ceil(len(members) / per_page), members[start:start + per_page]))
    paths = []
    bar = tqdm(total=sum(len(g[3]) for g in groups), desc="gallery", unit="cell", disable=not progress)
    for fam, page, pages, members in groups:
        cols = min(columns, len(members))
        rows = math.ceil(len(members) / cols)
        fig = plt.figure(figsize=(2.1 * cols, 2.3 * rows))
        for i, name in enumerate(members):
            proj = "3d" if style == "iso" else None
            ax = fig.add_subplot(rows, cols, i + 1, projection=proj)
            # anti-aliased (fractional) cells give smooth isosurfaces at level 1/2
            vox, vf, note = _cell_for_panel(name, n, volume_fraction, fractional=style == "iso")
            if vox is None:
                ax.set_axis_off()
                ax.text2D(0.5, 0.5, note, ha="center", transform=ax.transAxes) if proj else \
                    ax.text(0.5, 0.5, note, ha="center", transform=ax.transAxes)
            elif style == "iso":
                _draw_iso(ax, vox, _COLOURS[fam], step_size)
            else:
                _draw_slice(ax, vox)
            title = name if vox is None else f"{name}\nvf {vf:.3f}{note}"
            ax.set_title(title, fontsize=7, pad=1)
            bar.update(1)
        suffix = f"_{page + 1}" if pages > 1 else ""
        fig.suptitle(f"{fam}: {len(cell_types(fam))} types, n = {n}, target vf {volume_fraction:g}"
                     + (f" (page {page + 1}/{pages})" if pages > 1 else ""), fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        path = os.path.join(out_dir, f"gallery_{fam}{suffix}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    bar.close()
    return paths

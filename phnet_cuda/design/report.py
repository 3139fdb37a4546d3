"""The files of a design (``phnet design --out DIR``): the cell, its report, pictures, history.

``write_outputs(result, folder)`` writes

* ``design.npy`` - the 0/1 cell ``[n, n, n]`` (uint8, 1 = solid; ``phnet homogenize`` reads it);
* ``design.json`` - ``design_report``: the solver-checked C^H with its engineering constants
  (``post.export.tensor_report``), the objective (of the 0/1 cell, and of the last grey design),
  the volume fraction, the Hashin-Shtrikman bounds and how close the cell's Voigt-average bulk
  and shear moduli come to them, how the run went;
* ``history.json`` - one record per iteration (``DesignResult.history``);
* ``design.stl`` - the solid's surface (``post.export.write_stl``);
* ``young_surface.png`` - E(d) of the cell (``post.plots.plot_young_surface``);
* ``slices.png`` - three slices of the cell (``post.plots.plot_slices``);
* ``convergence.png`` - objective and volume fraction per iteration (``plot_history``).
"""

from __future__ import annotations

import os

import numpy as np

from ..post.export import tensor_report, write_json, write_stl
from ..post.plots import plot_slices, plot_young_surface
from ..post.tensor import voigt_reuss_moduli
from .objectives import bulk_modulus, shear_modulus


def design_report(result, files: dict | None = None) -> dict:
    """The JSON-ready report of a ``DesignResult``: ``objective`` (name, maximize, value of the 0/1
    cell, value of the last grey design), ``volume_fraction`` (achieved, target), ``threshold``,
    ``tensor`` (``tensor_report`` of C^H), ``bulk_modulus`` (the ``bulk`` objective, = the Voigt
    average K_V), ``shear_modulus`` (the ``shear`` objective, mean of C44, C55, C66),
    ``hashin_shtrikman`` (the bounds at the cell's volume fraction, ``bulk_ratio`` = K_V / K_U and
    ``shear_ratio`` = G_V / G_U with the Voigt averages, which the upper bounds bound for any
    microstructure), ``iterations``, ``converged``, ``stop_reason``, ``seconds``, ``settings``,
    ``notes`` and ``files``."""
    CH = result.CH
    hs = result.hashin_shtrikman
    K, G = float(bulk_modulus(CH)), float(shear_modulus(CH))
    G_voigt = voigt_reuss_moduli(CH)["G_V"]
    grey = result.history[-1]["objective"] if result.history else None
    return {
        "objective": {"name": result.objective_name, "maximize": result.maximize, "value": result.objective,
                      "value_grey_design": grey},
        "volume_fraction": result.volume_fraction,
        "target_volume_fraction": result.settings.get("volume_fraction"),
        "threshold": result.threshold,
        "n": int(result.design.shape[-1]),
        "tensor": tensor_report(CH),
        "bulk_modulus": K, "shear_modulus": G,
        "hashin_shtrikman": {**hs, "bulk_ratio": K / hs["bulk_upper"] if hs["bulk_upper"] else None,
                             "shear_ratio": G_voigt / hs["shear_upper"] if hs["shear_upper"] else None},
        "iterations": result.iterations, "converged": result.converged, "stop_reason": result.stop_reason,
        "seconds": result.seconds, "settings": result.settings, "notes": result.notes, "files": files or {},
    }


def plot_history(history: list, path, *, title: str = "design convergence", dpi: int = 110) -> str:
    """PNG of the objective (left axis) and the volume fraction (right axis) per iteration, with the
    iterations where the projection's beta changed marked; returns the path."""
    if not history:
        raise ValueError("history must hold at least one iteration, got none")
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"path must end in .png, got {path!r}")
    import matplotlib
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    it = [h["iteration"] for h in history]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(it, [h["objective"] for h in history], color="tab:blue")
    ax.set_xlabel("iteration")
    ax.set_ylabel("objective", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(it, [h["volume"] for h in history], color="tab:orange")
    ax2.set_ylabel("volume fraction", color="tab:orange")
    for a, b in zip(history, history[1:]):
        if b["beta"] != a["beta"]:
            ax.axvline(b["iteration"], color="0.8", lw=0.8, zorder=0)
    ax.set_title(title + " (grey lines: beta doubled)")
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def write_outputs(result, folder, *, stl: bool = True, plots: bool = True) -> dict[str, str]:
    """Write the design's files into ``folder`` (created); returns name -> path. ``stl`` / ``plots``
    False skip the surface and the pictures (they need scikit-image / matplotlib)."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    files = {}
    design = result.design.detach().cpu().numpy()
    files["design"] = os.path.join(folder, "design.npy")
    np.save(files["design"], design.astype(np.uint8))
    files["history"] = write_json(os.path.join(folder, "history.json"), result.history)
    shape = result.settings.get("shape")
    name = result.objective_name
    if stl and design.max() > 0:
        files["stl"] = write_stl(os.path.join(folder, "design.stl"), design, shape=shape)["path"]
    if plots:
        files["young_surface"] = plot_young_surface(result.CH, os.path.join(folder, "young_surface.png"),
                                                    title=f"designed cell ({name}), vf {result.volume_fraction:.3f}")
        files["slices"] = plot_slices(None, os.path.join(folder, "slices.png"), vox=design, shape=shape,
                                      title=f"designed cell ({name}), vf {result.volume_fraction:.3f}")
        if result.history:
            files["convergence"] = plot_history(result.history, os.path.join(folder, "convergence.png"),
                                                title=f"design: {name}")
    files["report"] = os.path.join(folder, "design.json")
    write_json(files["report"], design_report(result, files))
    return files


__all__ = ["design_report", "plot_history", "write_outputs"]

"""Moved to phnet_cuda.post.plots; this path is kept for compatibility.

``phnet_cuda.plots.<name>`` is ``phnet_cuda.post.plots.<name>`` (matplotlib PNGs of
Young's-modulus surfaces, field slices and convergence histories).
"""

from .post.plots import (
    draw_young_surface,
    plot_convergence,
    plot_slices,
    plot_young_surface,
    plot_young_surfaces,
    slice_geometry,
    young_surface,
)

__all__ = [
    "draw_young_surface",
    "plot_convergence",
    "plot_slices",
    "plot_young_surface",
    "plot_young_surfaces",
    "slice_geometry",
    "young_surface",
]

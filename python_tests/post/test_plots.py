"""Figures (phnet_cuda.post.plots): PNG files non-trivial, the E(d) surface consistent, bad
paths and slice indices rejected."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import phnet_cuda as pc
from phnet_cuda.geometry import tubular_gyroid
from phnet_cuda.post import fields, plots, tensor

SHAPE = (75.0, 75.0, 75.0, 1.0, 1.0, 2.0)

def png_is_nontrivial(path, min_bytes=5_000):
    import matplotlib.image as mpimg
    img = mpimg.imread(str(path))
    return path.stat().st_size > min_bytes and float(img[..., :3].std()) > 0.02


def test_png_figures(tmp_path):
    vox = tubular_gyroid(10, 0.3)
    res = pc.homogenize(vox, E=750.0, nu=0.25, shape=SHAPE, tol=1e-8)
    A = fields.stress_concentration(res.u, vox, E=750.0, nu=0.25, shape=SHAPE)
    worst = fields.worst_case_von_mises(A)[0]
    other = res.CH * torch.linspace(0.9, 1.1, 6, dtype=torch.float64)  # a symmetric perturbation
    other = 0.5 * (other + other.T)
    paths = [plots.plot_young_surface(res.CH, tmp_path / "e.png", unit="MPa"),
             plots.plot_young_surfaces(res.CH, other, tmp_path / "e2.png"),
             plots.plot_slices(worst, tmp_path / "w.png", vox=vox, shape=SHAPE, mask_void=True, label="vm"),
             plots.plot_slices(None, tmp_path / "c.png", vox=vox, axis=0),
             plots.plot_convergence(res.history, tmp_path / "h.png")]
    for p in paths:
        assert png_is_nontrivial(tmp_path / p.split("/")[-1]), p
    assert abs(float(tensor.relative_error(other, res.CH)) - float((res.CH - other).norm() / res.CH.norm())) < 1e-15
    r, E = plots.young_surface(res.CH, 8)
    assert np.allclose(np.linalg.norm(r, axis=-1), E)
    with pytest.raises(ValueError, match="must end in .png"):
        plots.plot_young_surface(res.CH, tmp_path / "e.jpg")
    with pytest.raises(ValueError, match=r"indices must be slice indices in \[0, 9\]"):
        plots.plot_slices(worst, tmp_path / "x.png", indices=[12])

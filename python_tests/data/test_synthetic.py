"""Label-free training: the normalised loss, data, checkpoints, exact resume, torchrun/gloo."""


import numpy as np
import torch

from phnet_cuda import homogenize, shapes
from phnet_cuda.data.loader import collate
from phnet_cuda.data.synthetic import RandomTranslation, TGCells, random_shape


def test_tg_cells_are_deterministic_and_hit_the_volume_fractions():
    ds = TGCells(16, [0.05, 0.2], 6, seed=1)
    a = [ds[i] for i in range(6)]
    b = TGCells(16, [0.05, 0.2], 6, seed=1)
    assert all(torch.equal(x["vox"], b[i]["vox"]) and torch.equal(x["shape"], b[i]["shape"]) for i, x in enumerate(a))
    for i, s in enumerate(a):
        assert abs(float(s["vox"].float().mean()) - [0.05, 0.2][i % 2]) <= 24 / 16**3  # field ties (symmetry)
        assert 75 <= s["shape"][:3].min() and s["shape"][:3].max() <= 90
        assert abs(float(shapes.cell_volume(s["shape"])) - 1) < 1e-12
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["shape"], a[0]["shape"])  # fresh shapes every epoch
    rng = np.random.default_rng(0)
    for _ in range(50):  # every sampled shape is a valid cell
        shapes.lattice_matrix(torch.as_tensor(random_shape(rng, (75, 90), (1, 2))))
    batch = collate(a)
    assert batch["vox"].shape == (6, 16, 16, 16) and batch["shape"].shape == (6, 6)


def test_random_translation_is_deterministic_and_label_preserving():
    """The augmentation rolls each cell by a shift that depends only on (seed, epoch, index),
    leaves everything else alone, and does not change C^H (sheared cell, solver to 1e-10)."""
    base = TGCells(8, [0.2, 0.3], 4, seed=5)
    aug = RandomTranslation(base, seed=5)
    first = [aug[i] for i in range(4)]
    again = RandomTranslation(TGCells(8, [0.2, 0.3], 4, seed=5), seed=5)
    assert all(torch.equal(x["vox"], again[i]["vox"]) for i, x in enumerate(first))
    shifts = [aug.shift(i, 8) for i in range(4)]
    assert len(set(shifts)) > 1
    for i, x in enumerate(first):
        assert torch.equal(x["vox"], torch.roll(base[i]["vox"], shifts[i], dims=(0, 1, 2)))
        assert torch.equal(x["shape"], base[i]["shape"]) and x["vox"].sum() == base[i]["vox"].sum()
    aug.set_epoch(1)
    assert base.epoch == 1 and [aug.shift(i, 8) for i in range(4)] != shifts
    assert len(aug) == 4
    x = first[1]
    kw = dict(E=1.0, nu=0.3, shape=x["shape"], tol=1e-10)
    a = homogenize(x["vox"].double(), **kw).CH
    b = homogenize(base[1]["vox"].double(), **kw).CH
    assert torch.allclose(a, b, rtol=1e-8, atol=1e-9 * float(a.abs().max()))

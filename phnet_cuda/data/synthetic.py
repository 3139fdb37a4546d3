"""Tubular-Gyroid cells generated on the fly (Dataset 1 of the reference method, no file): the
training stream of ``phnet train --data tg``, its held-out evaluation cells, and the random
periodic translation augmentation. Every sample is a pure function of (seed, epoch, index), so
resume and multi-process training see exactly the same cells.
"""

from __future__ import annotations

import numpy as np
import torch

from ..conventions import DEFAULT_SOFT_RATIO, UNIT_CUBE
from ..geometry import threshold_to_volume_fraction, tubular_gyroid_field
from ..shapes import cell_volume
from .loader import collate
from .plan import sample_shapes


def held_out_vfs(grid) -> np.ndarray:
    """Volume fractions training never sees: the midpoints of its grid."""
    grid = np.asarray(grid, dtype=np.float64)
    return (grid[1:] + grid[:-1]) / 2


def random_shape(rng: np.random.Generator, angle_range, length_range, corner_mix: float = 0.0) -> np.ndarray:
    """Parallelepiped parameters (a_xy, a_yz, a_xz, l_x, l_y, l_z), angles uniform in the range,
    lengths uniform, scaled to unit cell volume. Angles in [75, 90] always give a valid cell.

    With probability ``corner_mix`` the six parameters are drawn at the ends of their ranges
    instead (each end with probability 1/2, jittered by 5% of the range): independent uniform
    lengths almost never give the extreme aspect ratio l_max / l_min = 2 (e.g. (1, 1, 2)), which
    is where the displacement fields are most anisotropic and a network trained on the bulk of
    the box is worst."""
    if corner_mix > 0 and rng.uniform() < corner_mix:
        def ends(lo, hi):
            pick = np.where(rng.uniform(size=3) < 0.5, lo, hi)
            jitter = rng.uniform(0, 0.05 * (hi - lo), size=3)
            return np.where(pick == lo, pick + jitter, pick - jitter)

        p = np.concatenate([ends(*angle_range), ends(*length_range)])
        p[3:] /= float(cell_volume(torch.as_tensor(p))) ** (1.0 / 3.0)
        return p
    return sample_shapes(rng, 1, angle_range, length_range)[0]  # Dataset 1's sampler


class TGCells(torch.utils.data.Dataset):
    """Tubular-Gyroid cells ``{"vox": [n,n,n] uint8, "E", "nu", "soft_ratio", "shape": [6]}``.

    Sample ``i`` of epoch ``e`` is a pure function of (seed, e, i): the volume fraction is
    ``vfs[i % len(vfs)]`` and the shape is drawn from ``Generator([seed, e, i])``. The cells are
    thresholds of one cached TG field (``geometry.threshold_to_volume_fraction``), so each vf is
    hit to a few / n^3 (ties of the symmetric field at the threshold are all solid).
    """

    def __init__(self, n: int, vfs, size: int, *, seed: int = 0, E=1.0, nu=0.3, soft_ratio=DEFAULT_SOFT_RATIO,
                 angle_range=(75.0, 90.0), length_range=(1.0, 2.0), shapes: bool = True, corner_mix: float = 0.0):
        self.corner_mix = float(corner_mix)
        self.n, self.vfs, self.size, self.seed = n, np.asarray(vfs, dtype=np.float64), int(size), int(seed)
        self.E, self.nu, self.soft_ratio = float(E), float(nu), float(soft_ratio)
        self.angle_range, self.length_range, self.shapes = angle_range, length_range, shapes
        self.epoch = 0
        self._field = tubular_gyroid_field(n)  # computed once; each vf is a threshold of it

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shapes ``__getitem__`` draws (seed, epoch, index)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.size

    def voxels(self, vf: float) -> torch.Tensor:
        """The TG cell at ``vf``, identical to ``geometry.tubular_gyroid(n, vf)``."""
        return threshold_to_volume_fraction(self._field, vf).to(torch.uint8)

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.size:
            raise IndexError(i)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        vf = float(self.vfs[i % len(self.vfs)])
        shape = (random_shape(rng, self.angle_range, self.length_range, self.corner_mix) if self.shapes
                 else np.array(UNIT_CUBE))
        return {"vox": self.voxels(vf), "E": torch.tensor(self.E, dtype=torch.float64),
                "nu": torch.tensor(self.nu, dtype=torch.float64),
                "soft_ratio": torch.tensor(self.soft_ratio, dtype=torch.float64),
                "shape": torch.as_tensor(shape, dtype=torch.float64), "vf": torch.tensor(vf)}


class RandomTranslation(torch.utils.data.Dataset):
    """Training augmentation: every cell rolled by a random periodic translation (whole voxels).

    C^H is exactly invariant to translating a periodic cell (any shape: in cube coordinates a
    roll is a lattice translation), so the labels and the energy minimiser's C^H are unchanged,
    but the network is not: its pooling grid and its weights see the cell at one offset only,
    and every Tubular-Gyroid cell of ``TGCells`` has the same origin. The shift of sample ``i``
    in epoch ``e`` is a pure function of (seed, e, i), so resume and DDP stay exact.
    """

    def __init__(self, base, *, seed: int = 0):
        self.base, self.seed, self.epoch = base, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose shifts are drawn; passed on to the base dataset if it has ``set_epoch``."""
        self.epoch = int(epoch)
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def shift(self, i: int, n: int) -> tuple[int, int, int]:
        """The (x, y, z) roll of sample ``i`` of the current epoch for a cell of n^3 voxels."""
        # own stream: the base's draws stay as they were
        rng = np.random.default_rng([self.seed, self.epoch, i, 0x5EED])
        return tuple(int(v) for v in rng.integers(0, n, 3))

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        item["vox"] = torch.roll(item["vox"], self.shift(i, item["vox"].shape[-1]), dims=(-3, -2, -1))
        return item


def held_out_batch(n: int, vfs, count: int, *, seed: int, epoch: int, **cells) -> dict:
    """``count`` collated TG cells at the volume fractions ``vfs`` (e.g. ``held_out_vfs``) with
    shapes from ``epoch`` of the stream ``seed`` - pick an epoch training never reaches (10^6):
    the evaluation cells of ``Trainer`` and ``benchmarks/accuracy.py``. ``cells``: TGCells options."""
    ds = TGCells(n, vfs, count, seed=seed, **cells)
    ds.set_epoch(epoch)
    return collate([ds[i] for i in range(count)])

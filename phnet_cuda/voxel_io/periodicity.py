"""Is a voxel cell periodic? A measure of how much its opposite faces differ, and the rule that
turns it into a warning.

The solver treats every cell as one period of an infinite array: voxel layer n-1 along an axis
touches layer 0 of the next copy exactly as layer i touches layer i+1 inside the cell. So a
periodic cell sampled at voxel centres shows no more change across its boundary than between
neighbouring layers inside, while a block cut out of a larger structure (a micro-CT crop, a graded
lattice, an STL box that is not a whole period) jumps there.

Measure: along each axis, the mean |v[n-1] - v[0]| over the face (for a 0/1 cell the share of
voxels that differ across the boundary), against the largest mean |v[i+1] - v[i]| between
neighbouring layers inside the cell. A cell is flagged along an axis when the boundary difference
exceeds both ``FLOOR`` (1 %: a few stray voxels do not matter) and ``RATIO`` (2) times the largest
inside difference. Calibration: over every library type (n = 12, 16 and 24, three volume
fractions across each reachable range, binary and fractional, and every periodic roll of each
cell) the boundary difference is at most 1.61 times the largest inside one, and over 45 types at
n = 32 and 48 (two volume fractions, binary and fractional, every roll) at most 1.26: library
cells are not flagged. Blocks cut from tiled library cells (gyroid, octet, Schwarz P, Kelvin, bcc,
diamond, I-WP at volume fraction 0.25), flagged / tried:

=====================  ===================================  ==============================
voxels per period      0.6 or 0.8 of a period, 1.3 periods  0.9 or 0.95 of a period
=====================  ===================================  ==============================
16                     8 / 21                               1 / 14
32                     19 / 21                              4 / 14
64                     20 / 21                              6 / 14
=====================  ===================================  ==============================

So the check catches blocks that are clearly not one period once features span a few voxels; at
coarse resolution, where neighbouring layers already differ a lot, only gross jumps stand out.
It cannot prove that a cell is one period."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the boundary difference must exceed this many times the largest inside difference to be flagged
RATIO = 2.0
#: ... and this mean |difference| (share of differing face voxels for a 0/1 cell)
FLOOR = 0.01
AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Periodicity:
    """Per cell and axis (arrays ``[B, 3]``, axes x, y, z): ``boundary``, the mean |v[n-1] - v[0]| across
    the cell boundary; ``inside``, the largest mean |v[i+1] - v[i]| between neighbouring layers inside;
    ``flagged``, where the rule of the module docstring says the faces differ. ``binary``: the
    cell holds only 0 and 1, so the differences are shares of differing voxels."""

    boundary: np.ndarray
    inside: np.ndarray
    flagged: np.ndarray
    binary: bool

    @property
    def periodic(self) -> bool:
        """No cell is flagged along any axis."""
        return not bool(self.flagged.any())

    def cell_dict(self, b: int) -> dict:
        """Cell ``b`` as JSON: ``{"x": {"boundary": .., "inside": .., "periodic": ..}, ...}``."""
        return {a: {"boundary": float(self.boundary[b, i]), "inside": float(self.inside[b, i]),
                    "periodic": not bool(self.flagged[b, i])} for i, a in enumerate(AXES)}

    def message(self, source: str) -> str | None:
        """The one-line warning for ``source`` (None when every cell is periodic): which cells and
        axes, how much the faces differ against the inside, and what it means for C^H."""
        cells = np.flatnonzero(self.flagged.any(axis=1))
        if cells.size == 0:
            return None
        b = int(cells[0])

        def values(row):
            if self.binary:
                return ", ".join(f"{100 * v:.1f}%" for v in row)
            return ", ".join(f"{v:.3g}" for v in row)

        what = "of their voxels" if self.binary else "on average (mean |difference| of the face voxels)"
        axes = ", ".join(a for a, f in zip(AXES, self.flagged[b]) if f)
        listed = ", ".join(str(int(c)) for c in cells[:10]) + (" ..." if cells.size > 10 else "")
        count = len(self.flagged)
        which = "" if count == 1 else f"{cells.size} of {count} cells not periodic ({listed}); cell {b} "
        verb = "differ in" if self.binary else "differ by"
        return (f"{source}: {which}not periodic along {axes}: its opposite faces {verb} {values(self.boundary[b])} "
                f"(x, y, z) {what}, more than {RATIO:g} times the largest difference between neighbouring layers "
                f"inside ({values(self.inside[b])}); C^H is that of this block repeated, jumps at its faces included")


def _layer_differences(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(boundary [3], largest inside [3]) of one cell [n, n, n]."""
    boundary, inside = np.zeros(3), np.zeros(3)
    for axis in range(3):
        v = np.moveaxis(cell, axis, 0)
        boundary[axis] = float(np.abs(v[-1] - v[0]).mean())
        if len(v) > 1:
            inside[axis] = float(np.abs(np.diff(v, axis=0)).mean(axis=(1, 2)).max())
    return boundary, inside


def check_periodicity(vox) -> Periodicity:
    """The periodicity measure of ``vox`` (``[n, n, n]`` or ``[B, n, n, n]``, values in [0, 1]); see the
    module docstring for the measure and the rule."""
    vox = np.asarray(vox, dtype=np.float64)
    cells = vox.reshape((-1,) + vox.shape[-3:])
    pairs = [_layer_differences(c) for c in cells]
    boundary = np.array([p[0] for p in pairs])
    inside = np.array([p[1] for p in pairs])
    flagged = (boundary > FLOOR) & (boundary > RATIO * inside)
    binary = bool(np.all((cells == 0) | (cells == 1)))
    return Periodicity(boundary, inside, flagged, binary)

"""From the file's values to the solid fraction of each voxel in [0, 1] (1 = solid).

Three ways, one of them per read:

* no option: the values are used as they are and must already lie in [0, 1] (0/1 cells, bools,
  grey solid fractions); anything else is an error that says which option fits;
* ``threshold``: a number T (solid where value > T, in the file's own units) or ``"otsu"``
  (T from scikit-image's ``threshold_otsu`` over every voxel of the file, all cells together);
  the result is 0/1;
* ``scale_255``: an integer image with values in [0, 255] (an 8-bit 0/255 picture) divided by 255.

The used threshold is returned, so that it can be reported."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .errors import VoxelInputError, option

OTSU = "otsu"


@dataclass(frozen=True)
class Threshold:
    """How the values became solid fractions: ``value`` (the threshold T, None when none was applied),
    ``method`` (``"given"``, ``"otsu"`` or None) and ``scale_255`` (divided by 255)."""

    value: float | None = None
    method: str | None = None
    scale_255: bool = False

    def describe(self) -> str:
        """One phrase for reports: ``threshold 117.5 (Otsu)``, ``divided by 255`` or ``values as given``."""
        if self.value is not None:
            return f"threshold {self.value:.6g} ({'Otsu' if self.method == OTSU else 'given'}; solid where value > T)"
        return "divided by 255" if self.scale_255 else "values as given"


def parse_threshold(threshold):
    """``threshold`` as None, a finite float or ``"otsu"`` (also accepted: a numeric string, as on
    the command line); anything else is a one-line error."""
    if threshold is None:
        return None
    if isinstance(threshold, str):
        text = threshold.strip()
        if text.lower() == OTSU:
            return OTSU
        try:
            threshold = float(text)
        except ValueError:
            raise VoxelInputError(f"{option('threshold')}: expected a number or 'otsu', got {threshold!r}") from None
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise VoxelInputError(f"{option('threshold')}: expected a finite number or 'otsu', got {threshold!r}")
    return float(threshold)


def _otsu(vox: np.ndarray, source: str, lo: float, hi: float) -> float:
    from skimage.filters import threshold_otsu  # lazy: scikit-image is heavy to import

    if lo == hi:
        raise VoxelInputError(f"{source}: {option('threshold')} otsu needs at least two grey values; every voxel "
                              f"holds {lo:g}")
    return float(threshold_otsu(vox))


def to_unit_range(vox: np.ndarray, source: str, *, threshold=None, scale_255: bool = False,
                  ) -> tuple[np.ndarray, Threshold]:
    """The checked array ``vox`` (``arrays.check_voxel_array``) as float64 solid fractions in [0, 1]
    and how they were obtained (module docstring). Every refusal is a one-line VoxelInputError naming
    ``source``, its range and dtype, and the option that fits."""
    threshold = parse_threshold(threshold)
    dtype, integer = vox.dtype, bool(np.issubdtype(vox.dtype, np.integer))
    if threshold is not None and scale_255:
        raise VoxelInputError(f"{option('threshold')} and {option('scale_255')}: give one of them (the threshold "
                              "is in the file's own values)")
    if scale_255 and not integer:
        raise VoxelInputError(f"{option('scale_255')}: {source} holds dtype {dtype}; expected an integer image "
                              "(e.g. uint8 0/255)")
    lo, hi = float(vox.min()), float(vox.max())
    if threshold is not None:
        method = "given"
        if threshold == OTSU:
            threshold, method = _otsu(vox, source, lo, hi), OTSU
        solid = vox > threshold
        if not solid.any():
            raise VoxelInputError(f"{source}: {option('threshold')} {threshold:g} leaves no solid voxel (values in "
                                  f"[{lo:g}, {hi:g}]); expected a threshold below the largest value")
        return solid.astype(np.float64), Threshold(threshold, method)
    if scale_255:
        if lo < 0 or hi > 255:
            raise VoxelInputError(f"{option('scale_255')}: {source}: values must lie in [0, 255], got range "
                                  f"[{lo:g}, {hi:g}]")
        if hi == 1:  # a 0/1 image divided by 255 would be nearly empty: a silent wrong number
            raise VoxelInputError(f"{option('scale_255')}: {source} holds values in [0, 1] already (range "
                                  f"[{lo:g}, {hi:g}]); drop {option('scale_255')}")
        return vox.astype(np.float64) / 255.0, Threshold(scale_255=True)
    if lo < 0 or hi > 1:
        hint = (f"; for an 8-bit 0/255 image pass {option('scale_255')}" if integer and lo >= 0 and hi <= 255 else "")
        raise VoxelInputError(f"{source}: voxel values must lie in [0, 1], got range [{lo:g}, {hi:g}] (dtype {dtype}); "
                              f"to segment grey values pass {option('threshold')} (a number or 'otsu'){hint}")
    return vox.astype(np.float64), Threshold()

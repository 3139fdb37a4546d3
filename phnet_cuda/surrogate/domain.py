"""What a PH-Net checkpoint was trained on, and which cells of a prediction lie outside it.

The training domain is read from the checkpoint's ``train_config``: for generated Tubular-Gyroid
cells (``data: tg``) the keys ``n``, ``vf_min``/``vf_max``, ``angle_range``, ``length_range``,
``shapes``, ``nu`` and ``soft_ratio``; for a model trained on an HDF5 dataset (``data`` is its
path) the measured volume fractions of its built cells, the shape ranges of its spec and the
materials of its samples (``phnet_cuda.data``). A key that is absent, or a dataset file that cannot be read (moved,
deleted, h5py missing), leaves that part of the domain unknown: it is then not checked.

Cells are compared with margins that absorb how the training cells were made (a TG cell of target
vf 0.33 at n = 16 has vf 0.332; sampled angles never quite reach the ends of their range):
``VF_MARGIN`` in volume fraction, ``ANGLE_MARGIN`` degrees, ``RATIO_MARGIN`` relative in the length
ratio, ``NU_MARGIN`` in nu and ``SOFT_RATIO_MARGIN`` relative in the soft-phase ratio. E is not
checked: the network's input is scaled per sample, so its prediction does not depend on E.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from .. import shapes

VF_MARGIN = 0.005
ANGLE_MARGIN = 0.5  # degrees
RATIO_MARGIN = 0.01
NU_MARGIN = 1e-3
SOFT_RATIO_MARGIN = 0.01
#: an error estimate above this marks a cell as predicted poorly (the shipped model: 0.1-0.6% on
#: its own family, 5-70% on other library families and shapes)
LARGE_ESTIMATE = 0.05


@dataclass(frozen=True)
class TrainingDomain:
    """The ranges a checkpoint was trained on; None = unknown (not checked).

    Attributes:
        n: training resolution (voxels per edge).
        vf: (lowest, highest) solid volume fraction.
        angles: (lowest, highest) angle between two lattice vectors, degrees.
        length_ratio: largest ratio of the longest to the shortest lattice vector.
        nu, soft_ratio: (lowest, highest) Poisson ratio and soft-phase stiffness ratio.
        source: ``"tg"`` or the dataset file's path; ``note``: why a part is unknown ("" if none).
    """

    n: int | None = None
    vf: tuple | None = None
    angles: tuple | None = None
    length_ratio: float | None = None
    nu: tuple | None = None
    soft_ratio: tuple | None = None
    source: str = ""
    note: str = ""


def _pair(x) -> tuple | None:
    try:
        lo, hi = (float(v) for v in x)
    except (TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) and lo <= hi else None


def _number(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def domain_from_config(tc: dict) -> TrainingDomain:
    """The domain of a ``train_config`` dict (``TrainConfig.to_dict``); a dataset-trained config
    (``data`` = a file path) reads the file (``domain_from_dataset``)."""
    tc = tc if isinstance(tc, dict) else {}
    n = tc.get("n")
    n = int(n) if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 else None
    data = tc.get("data", "tg")
    if isinstance(data, str) and data != "tg":
        return domain_from_dataset(data, n)
    vf = None
    if _number(tc.get("vf_min")) is not None and _number(tc.get("vf_max")) is not None:
        vf = _pair((tc["vf_min"], tc["vf_max"]))
    angles, ratio = _pair(tc.get("angle_range")), None
    lengths = _pair(tc.get("length_range"))
    if lengths is not None and lengths[0] > 0:
        ratio = lengths[1] / lengths[0]
    if tc.get("shapes") is False:  # trained on unit cubes only
        angles, ratio = (90.0, 90.0), 1.0
    nu, soft = _number(tc.get("nu")), _number(tc.get("soft_ratio"))
    return TrainingDomain(n=n, vf=vf, angles=angles, length_ratio=ratio, nu=None if nu is None else (nu, nu),
                          soft_ratio=None if soft is None else (soft, soft), source="tg")


def domain_from_dataset(path: str, n: int | None = None) -> TrainingDomain:
    """The domain of the cells of a dataset file: the measured volume fractions of its built
    cells, the samples' nu and soft_ratio, and the shape ranges of its spec's groups (angles and
    length ratio as the spec draws them in this library's convention; for the reference
    conventions, whose angles differ from the cell's, those of the group's samples). A file that
    cannot be read gives a domain with only ``n`` known and a ``note`` saying why."""
    try:
        import json

        from ..data.h5 import open_file

        with open_file(path) as f:
            status = np.asarray(f["geometry/status"][...])
            vf = np.asarray(f["geometry/vf"][...])[status == 1]
            group_of_geometry = np.asarray(f["geometry/group"][...])
            sample_geometry = np.asarray(f["samples/geometry"][...])
            keep = status[sample_geometry] == 1
            sample_group = group_of_geometry[sample_geometry][keep]
            params = np.asarray(f["samples/shape"][...])[keep]
            nu = np.asarray(f["samples/nu"][...])[keep]
            soft = np.asarray(f["samples/soft_ratio"][...])[keep]
            spec = json.loads(f.attrs["spec"])
            groups = [g["shapes"] for g in spec["groups"]]
    except (ImportError, OSError, ValueError, KeyError, TypeError, IndexError) as exc:  # DatasetError: a ValueError
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return TrainingDomain(n=n, source=str(path),
                              note=f"the training dataset {path!r} cannot be read ({why}); its volume-fraction, "
                                   "shape and material ranges are not checked")
    vf = vf[np.isfinite(vf)]
    if len(vf) == 0 or len(params) == 0:
        return TrainingDomain(n=n, source=str(path), note=f"the training dataset {path!r} has no built cells")
    ang_lo, ang_hi, ratio = [], [], []
    for i, sh in enumerate(groups):
        if sh.get("convention", "library") == "library":
            (a0, a1), (l0, l1) = sh["angles"], sh["lengths"]
            ang_lo.append(float(a0))
            ang_hi.append(float(a1))
            ratio.append(float(l1) / float(l0))
        elif (sample_group == i).any():
            a, r = cell_angles_and_ratio(torch.as_tensor(params[sample_group == i], dtype=torch.float64))
            ang_lo.append(float(a.min()))
            ang_hi.append(float(a.max()))
            ratio.append(float(r.max()))
    return TrainingDomain(n=n, vf=(float(vf.min()), float(vf.max())),
                          angles=(min(ang_lo), max(ang_hi)) if ang_lo else None,
                          length_ratio=max(ratio) if ratio else None, nu=(float(nu.min()), float(nu.max())),
                          soft_ratio=(float(soft.min()), float(soft.max())), source=str(path))


_DOMAINS: dict = {}  # (path, mtime) -> TrainingDomain


def training_domain(checkpoint: str) -> TrainingDomain:
    """The training domain of a checkpoint file (cached per path and modification time)."""
    from .checkpoint import load_checkpoint

    path = os.path.abspath(checkpoint)
    key = (path, os.path.getmtime(path))
    if key not in _DOMAINS:
        _DOMAINS[key] = domain_from_config(load_checkpoint(path).get("train_config", {}))
    return _DOMAINS[key]


def cell_angles_and_ratio(shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Angles between the lattice vectors ``[B, 3]`` (degrees; pairs xy, yz, xz) and the ratio of
    the longest to the shortest vector ``[B]`` of cells given as parameters ``[6]`` / ``[B, 6]``
    or lattice matrices ``[3, 3]`` / ``[B, 3, 3]`` (columns = lattice vectors): invariant under
    rotation and scale, so a lattice matrix and the parameters of the same cell agree."""
    params = shapes.lattice_parameters(shapes.lattice_matrix(shapes.cell_shape(shape)))
    params = params if params.dim() == 2 else params[None]  # [B, 6]: angles (xy, yz, xz), lengths
    length = params[:, 3:]
    return params[:, :3], length.amax(dim=1) / length.amin(dim=1)


def _cells(idx: list[int]) -> str:
    return f"{idx[:10]}{' ...' if len(idx) > 10 else ''}"


def _per_cell(x, B: int) -> torch.Tensor:
    """A material scalar or ``[B]`` as a float64 CPU tensor ``[B]``."""
    t = torch.as_tensor(x, dtype=torch.float64).detach().cpu().reshape(-1)
    return t.expand(B) if t.numel() == 1 else t


def outside_reasons(domain: TrainingDomain, vox: torch.Tensor, *, nu, soft_ratio, shape) -> list[str]:
    """One line per way in which cells ``vox`` ``[B, n, n, n]`` (their materials nu, soft_ratio:
    scalars or ``[B]``; shape None, parameters or lattice matrices, shared or ``[B, ...]``) lie
    outside ``domain``, each naming the cells; [] when none does. The resolution is not checked
    here (predict resamples, and says so)."""
    B = vox.shape[0]
    out = []
    if domain.vf is not None:
        vf = vox.detach().double().mean(dim=(1, 2, 3)).cpu() if B else torch.zeros(0, dtype=torch.float64)
        lo, hi = domain.vf
        bad = ((vf < lo - VF_MARGIN) | (vf > hi + VF_MARGIN)).nonzero().flatten().tolist()
        if bad:
            out.append(f"volume fraction outside the training range [{lo:.3g}, {hi:.3g}]: cell(s) {_cells(bad)} "
                       f"(vf {', '.join(f'{float(vf[i]):.3g}' for i in bad[:5])}{' ...' if len(bad) > 5 else ''})")
    if domain.angles is not None or domain.length_ratio is not None:
        if shape is None:
            angles = torch.full((B, 3), 90.0, dtype=torch.float64)
            ratio = torch.ones(B, dtype=torch.float64)
        else:
            angles, ratio = cell_angles_and_ratio(shape)
            angles, ratio = angles.cpu().expand(B, 3), ratio.cpu().expand(B)
        bad_set = torch.zeros(B, dtype=torch.bool)
        what = []
        if domain.angles is not None:
            lo, hi = domain.angles
            bad_set |= ((angles < lo - ANGLE_MARGIN) | (angles > hi + ANGLE_MARGIN)).any(dim=1)
            what.append(f"lattice angles in [{lo:.4g}, {hi:.4g}] deg")
        if domain.length_ratio is not None:
            bad_set |= ratio > domain.length_ratio * (1 + RATIO_MARGIN)
            what.append(f"length ratio (longest / shortest lattice vector) <= {domain.length_ratio:.3g}")
        bad = bad_set.nonzero().flatten().tolist()
        if bad:
            i = bad[0]
            out.append(f"cell shape outside the training range ({', '.join(what)}): cell(s) {_cells(bad)} "
                       f"(cell {i}: angles {', '.join(f'{float(a):.4g}' for a in angles[i])} deg, "
                       f"length ratio {float(ratio[i]):.3g})")
    for name, x, rng, rel in (("nu", nu, domain.nu, False), ("soft_ratio", soft_ratio, domain.soft_ratio, True)):
        if rng is None:
            continue
        v = _per_cell(x, B)
        lo, hi = rng
        margin_lo, margin_hi = (lo * SOFT_RATIO_MARGIN, hi * SOFT_RATIO_MARGIN) if rel else (NU_MARGIN, NU_MARGIN)
        bad = ((v < lo - margin_lo) | (v > hi + margin_hi)).nonzero().flatten().tolist()
        if bad:
            trained = f"{lo:.4g}" if lo == hi else f"[{lo:.4g}, {hi:.4g}]"
            out.append(f"material outside the training range ({name} {trained}): cell(s) {_cells(bad)} "
                       f"({name} = {float(v[bad[0]]):.4g})")
    return out

"""PH-Net on the whole cell library, per family and for seen versus unseen cell types.

Used by ``benchmarks/accuracy.py --library DATASET.h5`` (DATASET = the HDF5 file the checkpoint
was trained on, split by type: its test split holds whole types the network never saw). The
evaluation cells:

* **unseen types**: labelled test-split samples of the dataset, up to ``per_type`` of every
  held-out type, spread over its volume fractions (labels from the file, solver tol <= 1e-6);
* **seen types**: NEW cells of types of the training split: a volume fraction halfway between two
  points of the training grid, and a shape and base material drawn from a stream training never
  draws (angles [75, 90] deg, lengths [1, 2], E log-uniform [0.1, 10], nu [0.2, 0.45]); up to
  ``per_type`` cells each of ``seen_types`` types spread over the families (the Tubular Gyroid
  always among them), labelled here at tol 1e-8 and cached in ``benchmarks/results/tmp/``.

For each checkpoint and each (family, seen/unseen) group it reports the relative Frobenius
error delta = ||C_pred - C_ref||_F / ||C_ref||_F of ``predict()`` (network + physics stage) and
of the network alone (``cg_steps=0``); the error estimate's coverage (share of cells with
estimate >= 0.5 x true error, the issue's criterion, and the spread of estimate / true); the
share of cells ``predict(max_error=0.01)`` refines and the error after it; and latencies of
``predict`` against ``homogenize`` at the same n, batch 1 and 64.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch

from phnet_cuda import homogenize
from phnet_cuda.data.plan import sample_shapes
from phnet_cuda.geometry import make_cell, reachable_range
from phnet_cuda.post.tensor import relative_error
from phnet_cuda.surrogate import predict
from phnet_cuda.surrogate.train.evaluate import label_cells

FAMILIES = ("tpms_sheet", "tpms_network", "truss")  # the Tubular Gyroid is its own group "tg"
MAX_ERROR = 0.01
COVERAGE_RATIO = 0.5  # the estimate must be at least this share of the true error


def _family(type_name: str, family: str) -> str:
    return "tg" if type_name == "tubular_gyroid" else family


def read_dataset(path: str) -> dict:
    """The parts of a split-by-type dataset the evaluation needs (numpy arrays)."""
    import h5py

    with h5py.File(path, "r") as f:
        names = [s.decode() for s in f["geometry/type_names"][:]]
        fam = [s.decode() for s in f["geometry/family_of_type"][:]]
        return {"type_names": names, "families": fam, "type": f["geometry/type"][:],
                "vf": f["geometry/vf"][:], "voxels": f["geometry/voxels"][:],
                "sample_geometry": f["samples/geometry"][:], "E": f["samples/E"][:], "nu": f["samples/nu"][:],
                "shape": f["samples/shape"][:], "soft_ratio": f["samples/soft_ratio"][:],
                "CH": f["labels/CH"][:], "converged": f["labels/converged"][:],
                "train": f["split/train"][:], "test": f["split/test"][:], "n": int(f.attrs["n"])}


def _batch(vox, E, nu, soft_ratio, shape, vf) -> dict:
    return {"vox": torch.as_tensor(np.asarray(vox), dtype=torch.float32),
            "E": torch.as_tensor(np.asarray(E), dtype=torch.float64),
            "nu": torch.as_tensor(np.asarray(nu), dtype=torch.float64),
            "soft_ratio": torch.as_tensor(np.asarray(soft_ratio), dtype=torch.float64),
            "shape": torch.as_tensor(np.asarray(shape), dtype=torch.float64),
            "vf": torch.as_tensor(np.asarray(vf), dtype=torch.float64)}


def unseen_set(ds: dict, per_type: int) -> tuple[dict, torch.Tensor, list, list]:
    """Labelled test-split samples, up to ``per_type`` per held-out type (spread over vf)."""
    picks = []
    test = ds["test"][ds["converged"][ds["test"]] == 1]
    geo_type = ds["type"][ds["sample_geometry"][test]]
    for t in np.unique(geo_type):
        idx = test[geo_type == t]
        idx = idx[np.argsort(ds["vf"][ds["sample_geometry"][idx]], kind="stable")]
        picks.extend(idx[np.linspace(0, len(idx) - 1, min(per_type, len(idx))).round().astype(int)])
    picks = np.array(sorted(set(picks)))
    geo = ds["sample_geometry"][picks]
    batch = _batch(ds["voxels"][geo], ds["E"][picks], ds["nu"][picks], ds["soft_ratio"][picks], ds["shape"][picks],
                   ds["vf"][geo])
    types = [ds["type_names"][t] for t in ds["type"][geo]]
    fams = [_family(ds["type_names"][t], ds["families"][t]) for t in ds["type"][geo]]
    return batch, torch.as_tensor(ds["CH"][picks]), types, fams


def seen_set(ds: dict, per_type: int, seen_types: int, seed: int, cache_dir) -> tuple[dict, torch.Tensor, list, list]:
    """New cells of training-split types (module docstring), labelled at tol 1e-8 and cached."""
    n = ds["n"]
    cache = cache_dir / f"library_seen_n{n}_p{per_type}_t{seen_types}_s{seed}.pt"
    train_types = np.unique(ds["type"][ds["sample_geometry"][ds["train"]]])
    by_family: dict = {}
    for t in train_types:
        by_family.setdefault(_family(ds["type_names"][t], ds["families"][t]), []).append(int(t))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    chosen = list(by_family.get("tg", []))
    others = [f for f in FAMILIES if f in by_family]
    share = max(1, (seen_types - len(chosen)) // max(1, len(others)))
    for f in others:
        ts = by_family[f]
        chosen.extend(ts[i] for i in np.linspace(0, len(ts) - 1, min(share, len(ts))).round().astype(int))
    vox, vf, types, fams = [], [], [], []
    for t in chosen:
        name = ds["type_names"][t]
        lo, hi = reachable_range(name, n)
        lo, hi = max(lo, 0.05), min(hi, 0.33)
        if hi <= lo:
            continue
        grid = np.linspace(lo, hi, per_type + 1)
        for v in 0.5 * (grid[1:] + grid[:-1]):  # between the points of any grid over the range
            cell = make_cell(name, n, float(v))
            vox.append(cell.numpy())
            vf.append(float(cell.mean()))
            types.append(name)
            fams.append(_family(name, ds["families"][t]))
    count = len(vox)
    E = np.exp(rng.uniform(np.log(0.1), np.log(10.0), count))
    nu = rng.uniform(0.2, 0.45, count)
    shape = sample_shapes(rng, count)
    batch = _batch(np.stack(vox), E, nu, np.full(count, ds["soft_ratio"][0]), shape, vf)
    if cache.exists():
        st = torch.load(cache, weights_only=True)
        if torch.equal(st["vox"], batch["vox"]):
            return batch, st["CH"], types, fams
    CH = label_cells(batch, tol=1e-8, progress=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"vox": batch["vox"], "CH": CH}, cache)
    return batch, CH, types, fams


def _kw(batch: dict, sl=slice(None)) -> dict:
    return {k: batch[k][sl] for k in ("E", "nu", "soft_ratio", "shape")}


def _latency(fn, repeats: int, warmup: bool = True) -> float:
    """Best of ``repeats`` timed calls (after one untimed call with ``warmup``)."""
    if warmup:
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def evaluate(path: str, sets: dict, device: str) -> dict:
    """Errors, estimate coverage, refinement share per group, and latencies, for one checkpoint."""
    groups = []
    for seen, (batch, CH_ref, types, fams) in sets.items():
        vox = batch["vox"].double()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the OOD notice is expected on unseen types
            res = predict(vox, checkpoint=path, device=device, batch_size=16, **_kw(batch))
            alone = predict(vox, checkpoint=path, device=device, batch_size=16, cg_steps=0, estimate=False,
                            **_kw(batch))
            refined = predict(vox, checkpoint=path, device=device, batch_size=16, max_error=MAX_ERROR, **_kw(batch))
        delta = relative_error(res.CH.cpu(), CH_ref)
        delta_alone = relative_error(alone.CH.cpu(), CH_ref)
        delta_refined = relative_error(refined.CH.cpu(), CH_ref)
        ratio = res.error_estimate.cpu().double() / delta.clamp_min(1e-12)
        fam_arr = np.array(fams)
        for fam in ("tg", *FAMILIES):
            m = torch.as_tensor(fam_arr == fam)
            if not m.any():
                continue
            groups.append({
                "types": seen, "family": fam, "cells": int(m.sum()), "type_count": len({t for t, f in zip(types, fams)
                                                                                        if f == fam}),
                "delta_mean": float(delta[m].mean()), "delta_median": float(delta[m].median()),
                "delta_max": float(delta[m].max()), "network_alone_mean": float(delta_alone[m].mean()),
                "estimate_coverage": float((ratio[m] >= COVERAGE_RATIO).double().mean()),
                "estimate_ratio_quantiles": [float(q) for q in torch.quantile(ratio[m], torch.tensor(
                    [0.05, 0.5, 0.95], dtype=torch.float64))],
                "refined_share": float(refined.refined.cpu()[m].double().mean()),
                "delta_after_max_error_max": float(delta_refined[m].max()),
            })
    # latency: predict vs homogenize, same cells, batch 1 and 64 (the unseen set's first cells)
    batch = next(iter(sets.values()))[0]
    vox = batch["vox"].double()
    reps = -(-64 // vox.shape[0])
    big = {k: v.repeat(reps, *([1] * (v.dim() - 1)))[:64] for k, v in _kw(batch).items()}
    vbig = vox.repeat(reps, 1, 1, 1)[:64]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lat = {"predict_b1_s": _latency(lambda: predict(vox[:1], checkpoint=path, device=device,
                                                        **_kw(batch, slice(0, 1))), 3),
               "homogenize_b1_s": _latency(lambda: homogenize(vox[:1], device=device, **_kw(batch, slice(0, 1))), 2),
               "predict_b64_s": _latency(lambda: predict(vbig, checkpoint=path, device=device, batch_size=64,
                                                         **big), 1),
               "homogenize_b64_s": _latency(lambda: homogenize(vbig, device=device, **big), 1, warmup=False)}
    return {"checkpoint": path, "groups": groups, "latency": lat}


def format_groups(result: dict) -> str:
    """One line per (seen/unseen, family) group of one checkpoint."""
    lines = [f"{result['checkpoint']}:",
             f"  {'types':7s}{'family':14s}{'cells':>6s}{'types':>6s}{'delta mean':>11s}{'median':>8s}{'max':>8s}"
             f"{'net alone':>10s}{'est>=0.5x':>10s}{'est/true 5-50-95%':>20s}{'refined@1%':>11s}{'max after':>10s}"]
    for g in result["groups"]:
        q = g["estimate_ratio_quantiles"]
        lines.append(f"  {g['types']:7s}{g['family']:14s}{g['cells']:6d}{g['type_count']:6d}{g['delta_mean']:11.2%}"
                     f"{g['delta_median']:8.2%}{g['delta_max']:8.2%}{g['network_alone_mean']:10.1%}"
                     f"{g['estimate_coverage']:10.0%}{q[0]:7.2f}{q[1]:6.2f}{q[2]:7.2f}"
                     f"{g['refined_share']:11.0%}{g['delta_after_max_error_max']:10.2%}")
    lat = result["latency"]
    lines.append(f"  latency: predict b1 {lat['predict_b1_s'] * 1e3:.0f} ms vs homogenize "
                 f"{lat['homogenize_b1_s'] * 1e3:.0f} ms ({lat['homogenize_b1_s'] / lat['predict_b1_s']:.1f}x); "
                 f"b64 {lat['predict_b64_s']:.2f} s vs "
                 f"{lat['homogenize_b64_s']:.2f} s ({lat['homogenize_b64_s'] / lat['predict_b64_s']:.1f}x)")
    return "\n".join(lines)

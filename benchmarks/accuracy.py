"""PH-Net accuracy benchmark: evaluate checkpoints on a labelled held-out Tubular-Gyroid set.

For every checkpoint (default: the one shipped in the package) it reports, on the same cells:
  * delta = ||C^H_pred - C^H_ref||_F / ||C^H_ref||_F (mean / median / max, and per vf band),
    against the numerical solver (multigrid PCG, tol 1e-8) at the checkpoint's n;
  * whether every predicted diagonal entry is an upper bound of the true one (it must be);
  * inference latency for batch 1 and batch 64 on the chosen device (median of repeats);
  * the same delta on the same cells with E scaled to 750 (MPa, as in the demo) and with the
    cells translated periodically by a few voxels: the exact C^H scales with E and ignores the
    translation, so these show what the scale-invariant input and the periodic padding buy;
  * fixed refinement budgets: mean delta after 1 and 2 multigrid-PCG iterations started from
    the prediction (``predict(refine_iters=k)``) and, for comparison, from zero;
  * the physics output stage (``PHNetConfig.cg_steps``, block-Jacobi CG from the network's
    field): delta of the network alone (cg_steps = 0) next to the model as configured, and a
    sweep of stage steps on the same network field. What a few purely local steps remove is
    voxel-scale detail the network misses; what remains is smooth;
  * the hybrid mode: iterations and seconds of a cold solve vs one warm-started from the
    prediction, to the same tolerance.
The held-out set: volume fractions at the midpoints of the 40-value training grid in
[0.02, 0.33] (never seen in training) and parallelepiped shapes from a random stream training
never draws (angles [75, 90] deg, lengths [1, 2], unit volume). Labels are cached in
benchmarks/results/tmp/. Several checkpoints (e.g. plain vs improved architecture trained with
the same budget) are compared side by side. Writes a table and
benchmarks/results/accuracy_<machine>.json.

    python benchmarks/accuracy.py [--checkpoint A.pt --checkpoint B.pt] [--count 48] [--device cpu]

With ``--library DATASET.h5`` (the split-by-type dataset a general checkpoint was trained on) it
evaluates instead on the whole library, per family and for seen versus unseen types
(``library_accuracy.py``: errors with and without the physics stage, the error estimate's
coverage, the share ``max_error=0.01`` refines, latencies against ``homogenize``), writing
benchmarks/results/accuracy_library_<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_env import RESULTS_DIR, device_name, format_table, git_commit, slug  # noqa: E402  (sets sys.path)

from phnet_cuda import homogenize  # noqa: E402
from phnet_cuda.data.synthetic import held_out_batch, held_out_vfs  # noqa: E402
from phnet_cuda.post.tensor import relative_error  # noqa: E402
from phnet_cuda.surrogate import DEFAULT_CHECKPOINT, load_model, predict  # noqa: E402
from phnet_cuda.surrogate.train.evaluate import label_cells  # noqa: E402


def held_out_set(n: int, count: int, seed: int, tol: float) -> tuple[dict, torch.Tensor]:
    cache = RESULTS_DIR / "tmp" / f"accuracy_tg_n{n}_c{count}_s{seed}.pt"
    if cache.exists():
        st = torch.load(cache, weights_only=True)
        return st["batch"], st["CH"]
    vfs = np.random.default_rng(seed).permutation(held_out_vfs(np.linspace(0.02, 0.33, 40)))  # spread over any prefix
    batch = held_out_batch(n, vfs, count, seed=seed, epoch=10**6 + 1)
    CH = label_cells(batch, tol=tol, progress=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"batch": batch, "CH": CH}, cache)
    return batch, CH


E_SCALE = 750.0  # the demo's base material is E = 750 MPa; training uses E = 1
REFINE_ITERS = (1, 2)  # fixed refinement budgets compared warm vs cold
SHIFT = (5, 3, 7)  # voxels; any periodic translation leaves C^H unchanged
STAGE_STEPS = (2, 4, 8, 16)  # physics-stage steps swept on every checkpoint's network field


def checkpoint_label(path: str) -> str:
    """``run/best.pt`` -> ``run`` (run directories all hold a best.pt), else the file name."""
    base = os.path.basename(path)
    if base in ("best.pt", "last.pt"):
        return f"{os.path.basename(os.path.dirname(os.path.abspath(path)))}/{base[:-3]}"
    return base


def latency(fn, repeats: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def evaluate_checkpoint(path: str, batch: dict, CH_ref: torch.Tensor, device: str, hybrid_cells: int) -> dict:
    model, n_train = load_model(path, device)
    kw = dict(E=batch["E"], nu=batch["nu"], soft_ratio=batch["soft_ratio"], shape=batch["shape"])
    vox = batch["vox"].double()
    res = predict(vox, checkpoint=path, device=device, batch_size=16, **kw)  # the model as configured
    delta = relative_error(res.CH.cpu(), CH_ref)
    # the physics output stage: the network alone, and a sweep of steps on the same network field
    # (the model's own number of steps is the prediction above, not run again)
    stage = {k: float(delta.mean()) if k == model.config.cg_steps else
             float(relative_error(predict(vox, checkpoint=path, device=device, batch_size=16, cg_steps=k,
                                          **kw).CH.cpu(), CH_ref).mean()) for k in (0, *STAGE_STEPS)}
    # Two invariances of the exact answer that the improvements target (module doc):
    # C^H is proportional to E (so a cell in MPa must give 750x the E = 1 answer) and does not
    # change when the periodic cell is translated by whole voxels.
    scaled = predict(vox, checkpoint=path, device=device, batch_size=16, **{**kw, "E": kw["E"] * E_SCALE})
    delta_scaled = relative_error(scaled.CH.cpu(), CH_ref * E_SCALE)
    shifted = predict(torch.roll(vox, SHIFT, dims=(1, 2, 3)), checkpoint=path, device=device, batch_size=16, **kw)
    delta_shifted = relative_error(shifted.CH.cpu(), CH_ref)
    diag_ref = torch.diagonal(CH_ref, dim1=1, dim2=2)
    bound_ok = bool((res.CH_upper.cpu() >= diag_ref * (1 - 1e-7)).all())
    vf = batch["vf"]
    bands = []
    for lo, hi in ((0.0, 0.1), (0.1, 0.2), (0.2, 0.35)):
        m = (vf >= lo) & (vf < hi)
        if m.any():
            bands.append({"vf": f"[{lo:.2f}, {hi:.2f})", "count": int(m.sum()), "delta_mean": float(delta[m].mean())})
    # fixed refinement budgets: k multigrid-PCG iterations from the prediction vs from zero
    budgets = []
    for k in REFINE_ITERS:
        warm = predict(vox, checkpoint=path, device=device, batch_size=16, refine_iters=k, **kw)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="homogenize: not converged")
            cold = homogenize(vox, max_iter=k, tol=np.finfo(float).tiny, device=device, **kw)
        budgets.append({"iterations": k, "delta_mean_warm": float(relative_error(warm.CH.cpu(), CH_ref).mean()),
                        "delta_mean_cold": float(relative_error(cold.CH.cpu(), CH_ref).mean()),
                        "seconds_warm_incl_network": warm.timings["total"], "seconds_cold": cold.seconds})
    # inference latency (network + C^H), batch 1 and batch 64 (cells repeated to fill it)
    one = {k: v[:1] for k, v in kw.items()}
    t1 = latency(lambda: predict(vox[:1], checkpoint=path, device=device, **one))
    reps = -(-64 // vox.shape[0])
    big = {k: v.repeat(reps, *([1] * (v.dim() - 1)))[:64] for k, v in kw.items()}
    vbig = vox.repeat(reps, 1, 1, 1)[:64]
    t64 = latency(lambda: predict(vbig, checkpoint=path, device=device, batch_size=64, **big), repeats=3)
    t64_alone = t64 if not model.config.cg_steps else latency(
        lambda: predict(vbig, checkpoint=path, device=device, batch_size=64, cg_steps=0, **big), repeats=3)
    # hybrid mode: cold vs warm-started solve on the first cells, one at a time
    cold_it, warm_it, cold_s, warm_s = [], [], [], []
    for i in range(min(hybrid_cells, vox.shape[0])):
        ki = {k: v[i:i + 1] for k, v in kw.items()}
        cold = homogenize(vox[i:i + 1], tol=1e-8, device=device, **ki)
        warm = predict(vox[i:i + 1], checkpoint=path, device=device, refine_tol=1e-8, **ki)
        cold_it.append(cold.iterations)
        warm_it.append(warm.iterations)
        cold_s.append(cold.seconds)
        warm_s.append(warm.timings["total"])
    return {"checkpoint": os.path.relpath(path), "label": checkpoint_label(path),
            "model_config": model.config.to_dict(), "n": n_train,
            "delta_mean": float(delta.mean()), "delta_median": float(delta.median()),
            "delta_max": float(delta.max()), "bands": bands,
            "delta_mean_E_scaled": float(delta_scaled.mean()), "E_scale": E_SCALE,
            "delta_mean_shifted": float(delta_shifted.mean()), "shift_voxels": list(SHIFT),
            "upper_bounds_hold": bound_ok, "refine_budgets": budgets,
            "cg_steps": model.config.cg_steps, "delta_mean_network_alone": stage[0],
            "delta_mean_by_stage_steps": {str(k): v for k, v in stage.items()},
            "latency_batch1_s": t1, "latency_batch64_s": t64, "latency_batch64_network_alone_s": t64_alone,
            "hybrid": {"cells": len(cold_it), "cold_iterations_mean": float(np.mean(cold_it)),
                       "warm_iterations_mean": float(np.mean(warm_it)), "cold_seconds": float(np.sum(cold_s)),
                       "warm_seconds_incl_network": float(np.sum(warm_s))}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", action="append", help="checkpoint(s) to evaluate (default: the shipped one)")
    p.add_argument("--count", type=int, default=48, help="held-out cells (default 48)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--device", default="cpu")
    p.add_argument("--hybrid-cells", type=int, default=6, help="cells for the cold vs warm-start comparison")
    p.add_argument("--library", metavar="DATASET.h5", help="evaluate per family and seen/unseen type (module doc)")
    p.add_argument("--per-type", type=int, default=2, help="--library: cells per type (default 2)")
    p.add_argument("--seen-types", type=int, default=25, help="--library: seen types to evaluate (default 25)")
    p.add_argument("--out", default=None)
    opts = p.parse_args()
    paths = opts.checkpoint or [DEFAULT_CHECKPOINT]
    if opts.library:
        return library_main(opts, paths)
    results, sets = [], {}
    for path in paths:
        _, n = load_model(path, opts.device)
        if n not in sets:
            sets[n] = held_out_set(n, opts.count, opts.seed, 1e-8)
        batch, CH = sets[n]
        results.append(evaluate_checkpoint(path, batch, CH, opts.device, opts.hybrid_cells))
    cols = [("checkpoint", lambda r: r["label"]), ("n", lambda r: str(r["n"])),
            ("widths", lambda r: ",".join(map(str, r["model_config"]["widths"]))),
            ("periodic/scale/zero", lambda r: "/".join("y" if r["model_config"][k] else "n"
                                                       for k in ("periodic", "scale_invariant", "zero_mean"))),
            ("cg steps", lambda r: str(r["cg_steps"])),
            ("delta mean", lambda r: f"{r['delta_mean']:.2%}"), ("median", lambda r: f"{r['delta_median']:.2%}"),
            ("max", lambda r: f"{r['delta_max']:.2%}"),
            (f"mean, E x{E_SCALE:g}", lambda r: f"{r['delta_mean_E_scaled']:.2%}"),
            ("mean, shifted", lambda r: f"{r['delta_mean_shifted']:.2%}"),
            *[(f"+{k} it (cold)", lambda r, i=i: f"{r['refine_budgets'][i]['delta_mean_warm']:.2%} "
                                                 f"({r['refine_budgets'][i]['delta_mean_cold']:.2%})")
              for i, k in enumerate(REFINE_ITERS)],
            ("network alone", lambda r: f"{r['delta_mean_network_alone']:.2%}"),
            *[(f"stage {k}", lambda r, k=k: f"{r['delta_mean_by_stage_steps'][str(k)]:.2%}") for k in STAGE_STEPS],
            ("bounds", lambda r: "ok" if r["upper_bounds_hold"] else "FAIL"),
            ("b=1 ms", lambda r: f"{r['latency_batch1_s'] * 1e3:.1f}"),
            ("b=64 ms", lambda r: f"{r['latency_batch64_s'] * 1e3:.0f}"),
            ("b=64 ms, net alone", lambda r: f"{r['latency_batch64_network_alone_s'] * 1e3:.0f}"),
            ("cold it", lambda r: f"{r['hybrid']['cold_iterations_mean']:.1f}"),
            ("warm it", lambda r: f"{r['hybrid']['warm_iterations_mean']:.1f}"),
            ("cold s", lambda r: f"{r['hybrid']['cold_seconds']:.2f}"),
            ("warm s", lambda r: f"{r['hybrid']['warm_seconds_incl_network']:.2f}")]
    print(format_table(results, cols, {"checkpoint", "widths", "periodic/scale/zero"}))
    for r in results:
        print(r["label"] + ": " + ", ".join(f"vf {b['vf']}: {b['delta_mean']:.2%} ({b['count']})"
                                                                   for b in r["bands"]))
    name = device_name(opts.device)
    out = opts.out or RESULTS_DIR / f"accuracy_{slug(name)}.json"
    with open(out, "w") as fh:
        json.dump({"device": name, "commit": git_commit(), "count": opts.count, "seed": opts.seed,
                   "held_out": "TG, vf at the midpoints of the 40-value training grid in [0.02, 0.33], unseen shapes",
                   "results": results}, fh, indent=2)
    print(f"wrote {out}")
    return 0 if all(r["upper_bounds_hold"] for r in results) else 1


def library_main(opts, paths: list) -> int:
    """``--library``: the per-family, seen/unseen evaluation of ``library_accuracy.py``."""
    import library_accuracy as lib

    ds = lib.read_dataset(opts.library)
    sets = {"unseen": lib.unseen_set(ds, opts.per_type),
            "seen": lib.seen_set(ds, opts.per_type, opts.seen_types, opts.seed, RESULTS_DIR / "tmp")}
    results = []
    for path in paths:
        results.append(lib.evaluate(path, sets, opts.device))
        print(lib.format_groups(results[-1]), flush=True)
    name = device_name(opts.device)
    out = opts.out or RESULTS_DIR / f"accuracy_library_{slug(name)}.json"
    with open(out, "w") as fh:
        json.dump({"device": name, "commit": git_commit(), "dataset": os.path.relpath(opts.library),
                   "per_type": opts.per_type, "seen_types": opts.seen_types, "seed": opts.seed,
                   "max_error": lib.MAX_ERROR, "results": results}, fh, indent=2)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

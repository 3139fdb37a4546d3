"""Dataset benchmark of phnet_cuda.data: cell generation, building, verifying and loading.

What is measured (n = 48 by default, wall clock, median of repeats where noted):

    generation   seconds per cell of the Tubular Gyroid (``geometry.tubular_gyroid``, 8 volume
                 fractions in [2 %, 33 %]); with the microstructure library, per family for
                 ``--types`` types spread over the family: ``reachable_range`` (the first cell of
                 a type pays it; cached per type), ``make_cell`` at two volume fractions inside
                 the range, and ``percolation`` (run on every built cell); from these medians an
                 estimate of the full Dataset 2 build.
    build        ``build_dataset("dataset1", n, scale)`` into a temporary file: total seconds,
                 seconds per cell and per sample, file size; ``verify_file`` seconds (checksums).
    loader       samples/s of a training split read through ``make_loader`` (one vectorised
                 ``dataset[indices]`` per batch) with 0 and ``--workers`` worker processes, with
                 the cells cached in memory, read from the file through the per-process LRU, and
                 read cold (LRU of one cell: every batch decompresses its cells, the situation of a
                 file larger than the cache); plus the classic per-sample path (``DataLoader``
                 with ``batch_size`` and ``default_collate``). Each row iterates whole epochs for at
                 least ``--seconds`` after one warm-up batch (worker start-up is reported apart).
    material     samples/s of ``to_device(batch, "cpu")`` incl. the 36-channel material tensor
                 with the shape-material transformation; on a GPU that tensor is built on the
                 device (``--device cuda`` measures it there).

Results: a table on stdout and ``benchmarks/results/data_<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# importing bench_env also makes phnet_cuda importable from a source checkout
from bench_env import RESULTS_DIR, cpu_name, cpus, device_name, format_table, git_commit, slug

from phnet_cuda import data, geometry
from phnet_cuda.data.plan import _even_pick as even_pick

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm is a dependency
    tqdm = None


def time_generation(n: int, types_per_family: int) -> list[dict]:
    """Seconds per cell: the Tubular Gyroid, and per library family (first cell of a type incl.
    its reachable-range search, which the library caches per type, then further cells)."""
    rows = []
    vfs = np.linspace(0.02, 0.33, 8)
    geometry.tubular_gyroid(8, 0.1)  # warm-up (first torch calls)
    times = []
    for vf in vfs:
        t0 = time.perf_counter()
        geometry.tubular_gyroid(n, float(vf))
        times.append(time.perf_counter() - t0)
    rows.append({"what": "tubular_gyroid", "family": "tpms_network", "cells": len(vfs),
                 "cell_s": statistics.median(times), "max_cell_s": max(times)})
    if not all(hasattr(geometry, f) for f in ("cell_types", "make_cell", "reachable_range", "percolation")):
        return rows
    for family in data.FAMILIES:
        names = list(geometry.cell_types(family))
        picks = [names[i] for i in even_pick(len(names), types_per_family)]
        reach, cells, perc, failed = [], [], [], 0
        for name in tqdm(picks, desc=f"generate {family}", unit="type", leave=False) if tqdm else picks:
            t0 = time.perf_counter()
            try:
                lo, hi = geometry.reachable_range(name, n)
            except ValueError:
                failed += 1
                continue
            reach.append(time.perf_counter() - t0)
            for vf in np.linspace(lo, hi, 4)[1:3]:
                t0 = time.perf_counter()
                cell = geometry.make_cell(name, n, float(vf))
                cells.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                geometry.percolation(cell)
                perc.append(time.perf_counter() - t0)
        if reach:
            rows.append({"what": f"make_cell, {len(picks)} types", "family": family, "cells": len(cells),
                         "types_in_family": len(names), "unreachable_types": failed,
                         "reachable_range_s": statistics.median(reach), "max_reachable_range_s": max(reach),
                         "cell_s": statistics.median(cells), "max_cell_s": max(cells),
                         "percolation_s": statistics.median(perc)})
    return rows


def dataset2_estimate(gen: list[dict]) -> dict | None:
    """Build time of the full Dataset 2 (100 truss + 16 sheet types x 40 cells) from the medians."""
    by_family = {r["family"]: r for r in gen if "reachable_range_s" in r}
    if not {"truss", "tpms_sheet"} <= set(by_family):
        return None
    seconds = 0.0
    for family, types in (("truss", 100), ("tpms_sheet", 16)):
        r = by_family[family]
        seconds += types * (r["reachable_range_s"] + 40 * (r["cell_s"] + r["percolation_s"]))
    return {"types": 116, "cells": 116 * 40, "estimated_seconds": seconds}


def run_loader(loader, min_seconds: float) -> dict:
    """samples/s over whole epochs after one warm-up batch (worker start-up timed apart)."""
    t0 = time.perf_counter()
    it = iter(loader)
    first = next(it)
    startup = time.perf_counter() - t0
    samples, t1 = 0, time.perf_counter()
    for batch in it:  # rest of the first epoch
        samples += len(batch["index"])
    while time.perf_counter() - t1 < min_seconds:
        for batch in loader:
            samples += len(batch["index"])
    seconds = time.perf_counter() - t1
    assert first["vox"].dtype in (torch.uint8, torch.float16, torch.float32)
    return {"samples": samples, "seconds": seconds, "samples_per_s": samples / seconds, "startup_s": startup}


def loader_rows(path: Path, batch: int, workers: list[int], min_seconds: float) -> list[dict]:
    rows = []
    variants = [("cached", {"cache": True}), ("file + LRU", {"cache": False}),
                ("file, cold (LRU 1)", {"cache": False, "lru": 1})]
    total = len(variants) * len(workers) + 1
    bar = tqdm(total=total, desc="loader", unit="row") if tqdm else None
    for label, kwargs in variants:
        for w in workers:
            ds = data.CellDataset(path, "train", verify=False, **kwargs)
            loader = data.make_loader(ds, batch, shuffle=True, seed=0, num_workers=w)
            rows.append({"path": f"batched, {label}", "workers": w, "batch": batch, **run_loader(loader, min_seconds)})
            del loader
            if bar:
                bar.update(1)
    ds = data.CellDataset(path, "train", verify=False, cache=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0)
    rows.append({"path": "per-sample + default_collate, cached", "workers": 0, "batch": batch,
                 **run_loader(loader, min_seconds)})
    if bar:
        bar.update(1)
        bar.close()
    return rows


def material_row(path: Path, batch: int, device: str, min_seconds: float) -> dict:
    ds = data.CellDataset(path, "train", verify=False)
    loader = data.make_loader(ds, batch, shuffle=False)
    b = next(iter(loader))
    data.to_device(b, device)  # warm-up
    samples, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        out = data.to_device(b, device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        samples += out["material"].shape[0]
    seconds = time.perf_counter() - t0
    return {"device": device, "batch": batch, "samples_per_s": samples / seconds,
            "bytes_per_sample_moved": int(b["vox"][0].numel() * b["vox"].element_size()),
            "material_bytes_per_sample": int(out["material"][0].numel() * out["material"].element_size())}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=48, help="voxels per edge (default 48)")
    p.add_argument("--scale", type=float, default=0.01, help="Dataset 1 scale (default 0.01: 40 cells, 600 samples)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers of the parallel rows (default 2)")
    p.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per loader row")
    p.add_argument("--types", type=int, default=4, help="types per family timed once the library exists")
    p.add_argument("--device", default="cpu", help="device of the material-tensor row (cpu or cuda)")
    p.add_argument("--quick", action="store_true", help="smoke run: n 16, 1 s per row")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/data_<machine>.json)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    opts = parse_args(argv)
    if opts.quick:
        opts.n, opts.seconds = 16, 1.0
    torch.manual_seed(0)
    print(f"phnet_cuda data benchmark: n = {opts.n}, Dataset 1 scale {opts.scale}, batch {opts.batch}, "
          f"{cpu_name()}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    gen = time_generation(opts.n, opts.types)
    with tempfile.TemporaryDirectory(prefix="phnet_data_bench_") as tmp:
        path = Path(tmp) / "dataset1.h5"
        t0 = time.perf_counter()
        built = data.build_dataset("dataset1", path, n=opts.n, scale=opts.scale, progress=True)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        data.verify_file(path)
        verify_s = time.perf_counter() - t0
        info = data.dataset_info(path)
        build = {"spec": "dataset1", "n": opts.n, "scale": opts.scale, "cells": built["built"],
                 "samples": built["samples"], "seconds": build_s, "seconds_per_cell": build_s / built["geometries"],
                 "file_bytes": info["file_bytes"], "raw_voxel_bytes": built["geometries"] * opts.n ** 3,
                 "verify_seconds": verify_s, "train_samples": info["split"]["train"]["samples"]}
        loaders = loader_rows(path, opts.batch, sorted({0, opts.workers}), opts.seconds)
        material = material_row(path, opts.batch, opts.device, opts.seconds)

    print("\nCell generation (seconds, medians; reachable range = first cell of a type):")
    print(format_table(gen, [("what", lambda r: r["what"]), ("family", lambda r: r["family"]),
                             ("cells", lambda r: str(r["cells"])),
                             ("reachable range s",
                              lambda r: f"{r['reachable_range_s']:.2f}" if "reachable_range_s" in r else "-"),
                             ("per cell s", lambda r: f"{r['cell_s']:.4f}"),
                             ("max cell s", lambda r: f"{r['max_cell_s']:.4f}"),
                             ("percolation s", lambda r: f"{r['percolation_s']:.4f}" if "percolation_s" in r else "-")],
                       left={"what", "family"}))
    estimate = dataset2_estimate(gen)
    if estimate:
        print(f"full Dataset 2 at n = {opts.n} (estimate from the medians): {estimate['cells']} cells in about "
              f"{estimate['estimated_seconds'] / 60:.0f} min on this machine")
    print(f"\nBuild dataset1 (n = {opts.n}, scale {opts.scale}): {build['cells']} cells, {build['samples']} samples "
          f"in {build['seconds']:.2f} s ({1e3 * build['seconds_per_cell']:.1f} ms per cell), file "
          f"{build['file_bytes'] / 2 ** 20:.2f} MiB (raw cells {build['raw_voxel_bytes'] / 2 ** 20:.2f} MiB), "
          f"verify {build['verify_seconds']:.2f} s")
    print("\nLoader (training split, CPU tensors):")
    print(format_table(loaders, [("path", lambda r: r["path"]), ("workers", lambda r: str(r["workers"])),
                                 ("batch", lambda r: str(r["batch"])),
                                 ("samples/s", lambda r: f"{r['samples_per_s']:.0f}"),
                                 ("start-up s", lambda r: f"{r['startup_s']:.2f}")], left={"path"}))
    print(f"\nto_device + 36-channel material tensor on {material['device']}: {material['samples_per_s']:.0f} "
          f"samples/s ({material['bytes_per_sample_moved']} B moved per sample instead of "
          f"{material['material_bytes_per_sample']} B of material tensor)")

    name = device_name("cpu")
    out = opts.out or RESULTS_DIR / f"data_{slug(name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device_name": name, "material_device": device_name(opts.device),
              "environment": {"cpus": cpus(), "torch_threads": torch.get_num_threads(),
                              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "git_commit": git_commit(),
                              "torch": torch.__version__, "load_average": os.getloadavg()[0],
                              "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
              "config": {k: getattr(opts, k) for k in ("n", "scale", "batch", "workers", "seconds", "types", "device")},
              "generation": gen, "dataset2_estimate": dataset2_estimate(gen), "build": build, "loader": loaders,
              "material": material}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Kernel benchmark of phnet_cuda: every custom op against the pure-PyTorch reference.

For each op (``phnet_cuda.ops.*``) and each (device, n, B) the script

1. checks correctness: our output (and, for backward rows, the gradient w.r.t. u) against the
   eager reference (``phnet_cuda.reference``) run on float64 copies of the same inputs. The error
   is normwise, ``max|ours - ref| / max|ref|`` per output, and must stay below 1e-4 (float32) or
   1e-10 (float64). A mismatch or an exception aborts that row (recorded in the results) and
   makes the script exit with status 1 at the end;
2. times ours, the eager reference and ``torch.compile(reference_fn)`` in the working dtype:
   median of ``--repeats`` calls after ``--warmup`` calls, synchronising CUDA around each call.
   A failing compile is recorded as an error string and the row goes on without it.

Rows (L = 6 load cases, M = 2 phases, J = 6 load columns, two-phase cube cell of CellProblem,
vox = i.i.d. uniform [0, 1] thresholded at 0.5, u = h * N(0, 1) so that the stiffness and the
load terms of the energy are of the same order):

    stiffness_apply  fwd, fwd+bwd   K u; backward = autograd w.r.t. u (K^T g)
    load_vectors     fwd            f = assembled element loads
    energy           fwd, fwd+bwd   fused u^T K u / 2 - u^T f per load case; backward w.r.t. u
    homogenized_sum  fwd            energy form of C^H summed over the cell
    element_fields   fwd            voxel strain and stress

"fwd+bwd" rows time the forward call plus ``torch.autograd.grad`` w.r.t. u (a training step).

Performance floor model (per row; s = bytes per float, N = n^3, V = B N voxels). Bytes are those
that must move at least once: every input read once, every output written once.

    field(k) = B k 3 N s          node fields of k load cases (u, K u, f, gradients)
    phase    = B M N s            phase fractions
    Ke, Fe, Ce, C                 element matrices (M x 576, M x 24 J, M x L L, M x 36 floats)

    stiffness_apply fwd   field(L) + phase + Ke + field(L)
    stiffness_apply bwd   the same again (reads the seed g, writes grad u)
    load_vectors fwd      phase + Fe + field(J)
    energy fwd            field(L) + phase + Ke + Fe + B L s
    energy bwd            B L s + field(L) + phase + Ke + Fe + field(L)
    homogenized_sum fwd   field(L) + phase + Ke + Fe + Ce + B L L s
    element_fields fwd    field(L) + phase + C + B L 6 s + 2 B L 6 N s

FLOPs per voxel (times V):

    stiffness product  2*576*L (one 24 x 24 mat-vec per load) + 2*576*M (phase blend of Ke, once
                       per voxel for all L loads)
    loads(k)           2*24*k*M (phase blend of k columns of Fe)
    energy fwd         2*300*(M + L) (upper triangle of the symmetric Ke: blend + quadratic
                       forms) + loads(L) + 2*24*L (u . f)
    energy bwd         stiffness product + loads(L) + 2*24*L (grad * (K u - f))
    stiffness bwd      stiffness product
    load_vectors       loads(J)
    homogenized_sum    stiffness product + loads(L) + 2 * 2*24*L*L (u_p . K u_q, u_p . f_q)
                       + 2*L*L*M (blend of Ce)
    element_fields     L * (2*72 + 6 + 2*36) (centre strain gradient, minus the macro strain,
                       6 x 6 stress product) + 2*36*M (blend of C)

Achieved GB/s and GFLOP/s are these counts divided by our time. The bandwidth floor is
``bytes / bandwidth`` with the bandwidth measured in the same run by copying a large tensor
(``--bandwidth-gib``, default 1 GiB; read + write = 2x its size moved) on the device: both
``x.clone()`` and ``out.copy_(x)`` are timed and the higher rate is used. (On CUDA the two
agree; on CPU ``clone`` also pays for the page faults of a fresh allocation and can be several
times slower than the memory.) ``floor`` = floor time / our time (1.0 = at the floor).

Results: a table on stdout, a summary of the project's performance targets, and a JSON file
``benchmarks/results/kernels_<device-name-slug>.json`` (``--out`` overrides) with the
environment, the measured bandwidths and every row.

Usage (from the repository root):
    PHNET_CUDA_LIBRARY=build/dev-cpu/_phnet_ops.so .venv/bin/python benchmarks/kernels.py --quick
    python benchmarks/kernels.py --n 32 48 --batch 8 --device cuda --repeats 20
On a busy CPU (other processes on the cores) use --threads 1: a parallel region that waits for a
descheduled worker thread stalls for a whole scheduler slice (several ms), which dominates small
problems.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

# importing bench_env also makes phnet_cuda importable from a source checkout
from bench_env import RESULTS_DIR, cpus, describe, device_name, environment, fmt, format_table, slug, sync

import phnet_cuda
from phnet_cuda import ops, reference
from phnet_cuda.problem import CellProblem

try:
    from tqdm import tqdm
except ImportError:  # progress bar is optional
    tqdm = None

DTYPES = {"float32": torch.float32, "float64": torch.float64}
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10}
LOADS = 6  # load cases L = load columns J (six unit macroscopic strains)
PHASES = 2  # hard, soft


# ----------------------------------------------------------------------------- floor model
@dataclass(frozen=True)
class Dims:
    """Problem sizes of one row: batch, loads, phases, load columns, grid, bytes per float."""

    B: int
    L: int
    M: int
    J: int
    n: int
    s: int

    @property
    def voxels(self) -> int:
        return self.B * self.n ** 3

    def field(self, k: int) -> int:
        """Bytes of a node field with k load cases."""
        return self.B * k * 3 * self.n ** 3 * self.s

    @property
    def phase(self) -> int:
        return self.B * self.M * self.n ** 3 * self.s

    @property
    def ke(self) -> int:
        return self.M * 576 * self.s

    @property
    def fe(self) -> int:
        return self.M * 24 * self.J * self.s


def _stiffness_flops(d: Dims) -> float:
    return d.voxels * 2 * 576 * (d.L + d.M)


def _loads_flops(d: Dims, k: int) -> float:
    return d.voxels * 2 * 24 * k * d.M


def _energy_fwd_flops(d: Dims) -> float:
    return d.voxels * (2 * 300 * (d.M + d.L) + 2 * 24 * d.L) + _loads_flops(d, d.L)


def _energy_bwd_flops(d: Dims) -> float:
    return _stiffness_flops(d) + _loads_flops(d, d.L) + d.voxels * 2 * 24 * d.L


def _stiffness_bytes(d: Dims) -> float:
    return 2 * d.field(d.L) + d.phase + d.ke


def _energy_fwd_bytes(d: Dims) -> float:
    return d.field(d.L) + d.phase + d.ke + d.fe + d.B * d.L * d.s


def _energy_bwd_bytes(d: Dims) -> float:
    return d.B * d.L * d.s + 2 * d.field(d.L) + d.phase + d.ke + d.fe


def _homogenized_bytes(d: Dims) -> float:
    return d.field(d.L) + d.phase + d.ke + d.fe + (d.M + d.B) * d.L * d.L * d.s


def _homogenized_flops(d: Dims) -> float:
    return (_stiffness_flops(d) + _loads_flops(d, d.L)
            + d.voxels * (2 * 2 * 24 * d.L * d.L + 2 * d.L * d.L * d.M))


def _element_fields_bytes(d: Dims) -> float:
    return d.field(d.L) + d.phase + d.M * 36 * d.s + d.B * d.L * 6 * d.s + 2 * d.B * d.L * 6 * d.n ** 3 * d.s


def _element_fields_flops(d: Dims) -> float:
    return d.voxels * (d.L * (2 * 72 + 6 + 2 * 36) + 2 * 36 * d.M)


# ----------------------------------------------------------------------------- ops
@dataclass(frozen=True)
class OpSpec:
    """One benchmarked op: our entry point, its reference, its inputs and its floor model."""

    name: str
    backward: bool  # time forward + gradient w.r.t. u (the first argument)
    ours: Callable
    ref: Callable
    inputs: tuple[str, ...]  # attribute names of Inputs, in call order
    bytes: Callable[[Dims], float]
    flops: Callable[[Dims], float]

    @property
    def mode(self) -> str:
        return "fwd+bwd" if self.backward else "fwd"


OPS = (
    OpSpec("stiffness_apply", False, ops.stiffness_apply, reference.stiffness_apply,
           ("u", "phase", "Ke"), _stiffness_bytes, _stiffness_flops),
    OpSpec("stiffness_apply", True, ops.stiffness_apply, reference.stiffness_apply,
           ("u", "phase", "Ke"), lambda d: 2 * _stiffness_bytes(d), lambda d: 2 * _stiffness_flops(d)),
    OpSpec("load_vectors", False, ops.load_vectors, reference.load_vectors,
           ("phase", "Fe"), lambda d: d.phase + d.fe + d.field(d.J), lambda d: _loads_flops(d, d.J)),
    OpSpec("energy", False, ops.energy_loss, reference.energy_loss,
           ("u", "phase", "Ke", "Fe"), _energy_fwd_bytes, _energy_fwd_flops),
    OpSpec("energy", True, ops.energy_loss, reference.energy_loss,
           ("u", "phase", "Ke", "Fe"), lambda d: _energy_fwd_bytes(d) + _energy_bwd_bytes(d),
           lambda d: _energy_fwd_flops(d) + _energy_bwd_flops(d)),
    OpSpec("homogenized_sum", False, ops.homogenized_sum, reference.homogenized_tensor,
           ("u", "phase", "Ke", "Fe", "Ce"), _homogenized_bytes, _homogenized_flops),
    OpSpec("element_fields", False, ops.element_fields, reference.element_fields,
           ("u", "phase", "C", "macro"), _element_fields_bytes, _element_fields_flops),
)


@dataclass
class Inputs:
    """Tensors of one (device, dtype, n, B) case: a two-phase cube cell and random fields."""

    u: torch.Tensor
    phase: torch.Tensor
    Ke: torch.Tensor
    Fe: torch.Tensor
    Ce: torch.Tensor
    C: torch.Tensor
    macro: torch.Tensor
    dims: Dims

    def args(self, op: OpSpec, dtype: torch.dtype | None = None) -> list[torch.Tensor]:
        """The op's arguments (cast to dtype if given); u requires grad for backward rows."""
        out = [getattr(self, name) for name in op.inputs]
        if dtype is not None:
            out = [t.to(dtype) for t in out]
        if op.backward:
            out[0] = out[0].detach().requires_grad_(True)
        return out


@functools.lru_cache(maxsize=1)
def make_inputs(device: str, dtype: torch.dtype, n: int, B: int) -> Inputs:
    """Deterministic inputs (seeded on the CPU, then moved, so every device sees the same data)."""
    gen = torch.Generator().manual_seed(1000 * n + B)
    prob = CellProblem(n, E=1.0, nu=0.3, dtype=dtype, device=device)
    vox = (torch.rand(B, n, n, n, generator=gen) > 0.5).to(dtype)
    u = (torch.randn(B, LOADS, 3, n, n, n, generator=gen, dtype=torch.float64) / n).to(device, dtype)
    macro = torch.eye(LOADS, dtype=dtype, device=device).expand(B, LOADS, 6).contiguous()
    dims = Dims(B=B, L=LOADS, M=PHASES, J=prob.Fe.shape[-1], n=n, s=torch.finfo(dtype).bits // 8)
    return Inputs(u=u, phase=prob.phases(vox), Ke=prob.Ke, Fe=prob.Fe, Ce=prob.Ce, C=prob.C,
                  macro=macro, dims=dims)


# ----------------------------------------------------------------------------- measuring

def time_ms(fn: Callable[[], object], device: str, repeats: int, warmup: int) -> float:
    """Median wall time of fn() in ms after warmup calls (CUDA synchronised around each call)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def call(fn: Callable, args: list[torch.Tensor], seed: torch.Tensor | None):
    """fn(*args); with a seed also the gradient w.r.t. args[0]: returns (output, grad)."""
    out = fn(*args)
    if seed is None:
        return out
    return out, torch.autograd.grad(out, args[0], seed)[0]


def _flatten(result) -> list[torch.Tensor]:
    if isinstance(result, torch.Tensor):
        return [result]
    return [t for part in result for t in _flatten(part)]


def max_rel_error(got, want) -> float:
    """max over outputs of max|got - want| / max|want| (computed in float64)."""
    errs = []
    for g, w in zip(_flatten(got), _flatten(want), strict=True):
        w = w.detach().double()
        scale = w.abs().max().clamp_min(torch.finfo(torch.float64).tiny)
        errs.append(float((g.detach().double() - w).abs().max() / scale))
    return max(errs)


def measure_bandwidth(device: str, gib: float, repeats: int) -> dict:
    """Device memory bandwidth in GB/s from copying a large tensor (2x its size moved).

    Times both ``x.clone()`` and ``out.copy_(x)``; the floor uses the higher rate."""
    nbytes = int(gib * 2 ** 30) // 4 * 4
    src = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    rates = {}
    for name, fn in (("clone", src.clone), ("copy", functools.partial(dst.copy_, src))):
        ms = time_ms(fn, device, repeats, warmup=1)
        rates[f"{name}_GBps"] = 2 * nbytes / (ms * 1e-3) / 1e9
    return {"bytes": nbytes, **rates, "GBps": max(rates.values())}


def _graph_breaks() -> int:
    return sum(torch._dynamo.utils.counters["graph_break"].values())


# ----------------------------------------------------------------------------- rows
@dataclass
class Row:
    """One benchmark row: identification, correctness, timings and the floor model."""

    op: str
    mode: str
    device: str
    dtype: str
    n: int
    B: int
    tolerance: float
    max_rel_err: float | None = None
    ms_ours: float | None = None
    ms_eager: float | None = None
    ms_compiled: float | None = None
    speedup_eager: float | None = None
    speedup_compiled: float | None = None
    compile_s: float | None = None
    compile_graph_breaks: int | None = None
    compiled_max_rel_err: float | None = None
    compile_error: str | None = None
    bytes: float = 0.0
    flops: float = 0.0
    GBps: float | None = None
    GFLOPps: float | None = None
    floor_ms: float | None = None
    floor_fraction: float | None = None
    error: str | None = None


def _time_compiled(row: Row, op: OpSpec, x: Inputs, seed, want, opts) -> None:
    """Compile the reference afresh (dynamo reset), record compile time, graph breaks,
    accuracy and the timing; any failure is recorded as row.compile_error."""
    torch._dynamo.reset()
    compiled = torch.compile(op.ref, dynamic=False)
    args = x.args(op)
    breaks = _graph_breaks()
    try:
        start = time.perf_counter()
        first = call(compiled, args, seed)
        sync(row.device)
        row.compile_s = time.perf_counter() - start
        row.compile_graph_breaks = _graph_breaks() - breaks
        row.compiled_max_rel_err = max_rel_error(first, want)
        row.ms_compiled = time_ms(lambda: call(compiled, args, seed), row.device, opts.repeats, opts.warmup)
    except Exception as exc:  # any compile failure is a result, not a crash
        row.compile_error = describe(exc)


def run_row(op: OpSpec, device: str, dtype: torch.dtype, n: int, B: int, opts, bandwidth: dict) -> Row:
    """Check our op against the float64 reference, then time ours, eager and compiled."""
    dtype_name = str(dtype).removeprefix("torch.")
    row = Row(op.name, op.mode, device, dtype_name, n, B, TOLERANCE[dtype])
    try:
        x = make_inputs(device, dtype, n, B)
        row.bytes, row.flops = float(op.bytes(x.dims)), float(op.flops(x.dims))
        seed = None
        if op.backward:
            out = op.ours(*x.args(op))
            gen = torch.Generator().manual_seed(7)
            seed = torch.randn(out.shape, generator=gen, dtype=torch.float64).to(device, dtype)
        got = call(op.ours, x.args(op), seed)
        want = call(op.ref, x.args(op, torch.float64), None if seed is None else seed.double())
        row.max_rel_err = max_rel_error(got, want)
        if not row.max_rel_err <= row.tolerance:
            row.error = f"mismatch: max rel err {row.max_rel_err:.3g} > tolerance {row.tolerance:g}"
            return row
        del got
        args = x.args(op)
        row.ms_ours = time_ms(lambda: call(op.ours, args, seed), device, opts.repeats, opts.warmup)
        row.ms_eager = time_ms(lambda: call(op.ref, args, seed), device, opts.repeats, opts.warmup)
        if opts.compile:
            _time_compiled(row, op, x, seed, want, opts)
    except Exception as exc:  # an error is recorded and turns the exit status non-zero
        row.error = describe(exc)
        return row
    _derive(row, bandwidth[device]["GBps"])
    return row


def _derive(row: Row, GBps: float) -> None:
    """Speedups, achieved rates and the bandwidth-floor fraction from the measured times."""
    row.speedup_eager = row.ms_eager / row.ms_ours
    if row.ms_compiled is not None:
        row.speedup_compiled = row.ms_compiled / row.ms_ours
    row.GBps = row.bytes / (row.ms_ours * 1e-3) / 1e9
    row.GFLOPps = row.flops / (row.ms_ours * 1e-3) / 1e9
    row.floor_ms = row.bytes / (GBps * 1e9) * 1e3
    row.floor_fraction = row.floor_ms / row.ms_ours


# ----------------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Target:
    """A performance target of the project on energy fwd+bwd, float32."""

    device: str
    n: int
    B: int
    metric: str  # a Row attribute
    minimum: float
    text: str

    def status(self, rows: list[Row]) -> str:
        found = [r for r in rows if r.op == "energy" and r.mode == "fwd+bwd" and r.dtype == "float32"
                 and r.device.split(":")[0] == self.device and r.n == self.n and r.B == self.B]
        if not found:
            return "not-measured"
        row = found[0]
        if row.error:
            return f"FAIL (row error: {row.error})"
        value = getattr(row, self.metric)
        if value is None:
            return f"not-measured ({row.compile_error or 'compiled reference not run'})"
        return f"{'PASS' if value >= self.minimum else 'FAIL'} ({value:.2f})"


TARGETS = (
    Target("cpu", 32, 8, "speedup_eager", 5.0, "CPU n=32 B=8: energy fwd+bwd >= 5x eager reference"),
    Target("cpu", 32, 8, "speedup_compiled", 2.0, "CPU n=32 B=8: energy fwd+bwd >= 2x compiled reference"),
    Target("cuda", 48, 8, "speedup_eager", 10.0, "GPU n=48 B=8: energy fwd+bwd >= 10x eager reference"),
    Target("cuda", 48, 8, "speedup_compiled", 3.0, "GPU n=48 B=8: energy fwd+bwd >= 3x compiled reference"),
    Target("cuda", 48, 8, "floor_fraction", 0.5,
           "GPU n=48 B=8: energy fwd+bwd within 2x of the byte floor (floor fraction >= 0.5)"),
)


# ----------------------------------------------------------------------------- reporting

COLUMNS = (  # header, row -> text
    ("op", lambda r: r.op),
    ("mode", lambda r: r.mode),
    ("dev", lambda r: r.device),
    ("dtype", lambda r: r.dtype),
    ("n", lambda r: str(r.n)),
    ("B", lambda r: str(r.B)),
    ("rel err", lambda r: fmt(r.max_rel_err, ".1e")),
    ("ours ms", lambda r: fmt(r.ms_ours, ".3f")),
    ("eager ms", lambda r: fmt(r.ms_eager, ".3f")),
    ("compiled ms", lambda r: fmt(r.ms_compiled, ".3f")),
    ("x eager", lambda r: fmt(r.speedup_eager, ".2f")),
    ("x compiled", lambda r: fmt(r.speedup_compiled, ".2f")),
    ("GB/s", lambda r: fmt(r.GBps, ".3g")),
    ("GFLOP/s", lambda r: fmt(r.GFLOPps, ".3g")),
    ("floor", lambda r: fmt(r.floor_fraction, ".3g")),
    ("status", lambda r: "ERROR" if r.error else "ok"),
)


def format_notes(rows: list[Row]) -> str:
    """Row errors and compile problems, one line each."""
    out = []
    for r in rows:
        tag = f"{r.op} {r.mode} {r.device} {r.dtype} n={r.n} B={r.B}"
        if r.error:
            out.append(f"ERROR    {tag}: {r.error}")
        if r.compile_error:
            out.append(f"compile  {tag}: {r.compile_error}")
        elif r.compile_graph_breaks:
            out.append(f"compile  {tag}: compiled reference has {r.compile_graph_breaks} graph break(s)")
    return "\n".join(out)




# ----------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", help="grid sizes (default 16 32 48; --quick: 16)")
    p.add_argument("--batch", type=int, nargs="+", help="batch sizes (default 1 8; --quick: 1)")
    p.add_argument("--device", choices=("cpu", "cuda", "all"),
                   help="default: cpu, plus cuda when available")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    p.add_argument("--repeats", type=int, help="timed calls per measurement (default 10; --quick: 3)")
    p.add_argument("--warmup", type=int, help="untimed calls first (default 2; --quick: 1)")
    p.add_argument("--threads", type=int, help="CPU threads of torch and the ops (default: torch's)")
    p.add_argument("--quick", action="store_true", help="smoke run: n 16, B 1, few repeats")
    p.add_argument("--ops", nargs="+",
                   help="only these ops (default: all of " + ", ".join(sorted({o.name for o in OPS})) + ")")
    p.add_argument("--no-compile", dest="compile", action="store_false",
                   help="skip the torch.compile'd reference")
    p.add_argument("--bandwidth-gib", type=float, default=1.0, help="size of the bandwidth copy")
    p.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/kernels_<device>.json)")
    opts = p.parse_args(argv)
    opts.n = opts.n or ([16] if opts.quick else [16, 32, 48])
    opts.batch = opts.batch or ([1] if opts.quick else [1, 8])
    opts.repeats = opts.repeats or (3 if opts.quick else 10)
    opts.warmup = opts.warmup if opts.warmup is not None else (1 if opts.quick else 2)
    return opts


def resolve_devices(choice: str | None) -> list[str]:
    """cpu / cuda / all; the default is cpu plus cuda when a GPU and CUDA kernels are there."""
    cuda = torch.cuda.is_available()
    if choice is None:
        choice = "all" if cuda and phnet_cuda.has_cuda_kernels() else "cpu"
    devices = {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu", "cuda"] if cuda else ["cpu"]}[choice]
    if "cuda" in devices and not cuda:
        raise SystemExit("--device cuda: no CUDA device is available")
    if "cuda" in devices and not phnet_cuda.has_cuda_kernels():
        raise SystemExit(f"the loaded library {phnet_cuda.load_library()} has no CUDA kernels")
    return devices


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    devices = resolve_devices(opts.device)
    dtype = DTYPES[opts.dtype]
    if opts.threads:
        torch.set_num_threads(opts.threads)
    logging.getLogger("torch._dynamo").setLevel(logging.ERROR)  # graph breaks are counted per row
    load_average = os.getloadavg()[0]
    if "cpu" in devices and load_average >= cpus() - 0.5:
        print(f"warning: load average {load_average:.1f} on {cpus()} CPUs; CPU timings will be noisy "
              "(other processes compete for the cores; --threads 1 reduces the stalls)")

    bandwidth = {d: measure_bandwidth(d, opts.bandwidth_gib, max(opts.repeats, 3)) for d in devices}
    for d, bw in bandwidth.items():
        print(f"bandwidth {d} ({device_name(d)}): {bw['GBps']:.1f} GB/s "
              f"(clone {bw['clone_GBps']:.1f}, copy {bw['copy_GBps']:.1f})")

    selected = [op for op in OPS if not opts.ops or op.name in opts.ops]
    if not selected:
        raise SystemExit(f"--ops {opts.ops}: no such op (choose from {sorted({o.name for o in OPS})})")
    cases = [(d, n, B, op) for d in devices for n in opts.n for B in opts.batch for op in selected]
    rows = [run_row(op, d, dtype, n, B, opts, bandwidth)
            for d, n, B, op in (tqdm(cases, desc="rows", unit="row") if tqdm else cases)]

    print()
    print(format_table(rows, COLUMNS, {"op", "mode", "dev", "dtype", "status"}))
    notes = format_notes(rows)
    if notes:
        print("\n" + notes)
    targets = [{"target": t.text, "status": t.status(rows)} for t in TARGETS]
    print("\nProject targets (energy forward+backward w.r.t. u, float32):")
    for t in targets:
        print(f"  {t['target']:<80} {t['status']}")

    name = device_name("cuda" if "cuda" in devices else "cpu")
    out = opts.out or RESULTS_DIR / f"kernels_{slug(name)}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"device_name": name, "environment": environment(
        load_average, threads=torch.get_num_threads(), interop_threads=torch.get_num_interop_threads(),
        devices={d: device_name(d) for d in devices}, repeats=opts.repeats, warmup=opts.warmup, compile=opts.compile),
              "bandwidth": bandwidth, "rows": [asdict(r) for r in rows], "targets": targets}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults written to {out}")

    failed = [r for r in rows if r.error]
    if failed:
        print(f"{len(failed)} row(s) failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

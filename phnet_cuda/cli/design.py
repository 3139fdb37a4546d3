"""``phnet design``: inverse design of a periodic cell (``phnet_cuda.design.optimize``) and its files.

The run keeps its state in ``DIR/state.npz`` (every ``--checkpoint-every`` iterations and when it
stops): the same command run again continues from there - after an interruption, or with a
larger ``--iterations`` after it stopped at the limit - and ``--restart`` starts afresh.
"""

from __future__ import annotations

import json
import os

from .common import (
    UserError,
    _device,
    _format_constants,
    _format_matrix,
    _parse_shape,
    add_cell_source_arguments,
    add_verbose,
    prepare_output,
    read_cell_source,
)

STATE_FILE = "state.npz"


def _parse_direction(text: str | None):
    """--direction: three numbers x,y,z (not all zero)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--direction: expected three numbers x,y,z, got {text!r}") from None
    if len(values) != 3 or not any(values):
        raise UserError(f"--direction: expected three numbers x,y,z, not all zero, got {text!r}")
    return values


def _read_target(path: str | None):
    """--target FILE.json: a 6 x 6 C^H, either the file's ``"CH"`` entry (the JSON of ``phnet homogenize
    --out`` or of a design) with optional ``"weights"`` (6 x 6), or a bare 6 x 6 list."""
    if path is None:
        return None, None
    if not os.path.isfile(path):
        raise UserError(f"--target: file not found: {path}")
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise UserError(f"--target: cannot read {path} as JSON ({type(exc).__name__}: {exc})") from None
    if isinstance(data, dict):
        if "CH" not in data:
            raise UserError(f"--target: {path} has no \"CH\" entry (keys: {sorted(data)[:8]}); expected a 6 x 6 C^H "
                            "as \"CH\" (optionally \"weights\") or a bare 6 x 6 list")
        return data["CH"], data.get("weights")
    return data, None


def cmd_design(args) -> int:
    """``phnet design``: optimise a cell for ``--objective``, write its files into ``--out``; returns 0."""
    from ..design import optimize, write_outputs
    from ..post import engineering_constants

    shape = _parse_shape(args.shape)
    device = _device(args.device)
    direction = _parse_direction(args.direction)
    if direction is not None and args.objective != "young":
        raise UserError(f"--direction: applies to --objective young, got --objective {args.objective}")
    target, weights = _read_target(args.target)
    if args.objective == "target" and target is None:
        raise UserError("--objective target needs --target FILE.json (a 6 x 6 C^H)")
    if args.target is not None and args.objective != "target":
        raise UserError(f"--target: applies to --objective target, got --objective {args.objective}")
    if args.optimizer == "mma":
        import importlib.util
        if importlib.util.find_spec("mmapy") is None:  # say so now, in one line, not after the first solve
            raise UserError("--optimizer mma needs the mmapy package (pip install mmapy); --optimizer oc needs "
                            "nothing more")
    init = _starting_density(args)
    out = prepare_output(args.out, "--out", directory=True)
    state = os.path.join(out, STATE_FILE)
    if args.restart and os.path.exists(state):
        os.remove(state)
    resumed = os.path.exists(state)
    args.interrupt_hint = f"run the same command again to continue from {state}"
    print(f"design: objective {args.objective}, n = {args.n}, volume fraction {args.vf:g} ({args.vf_constraint}), "
          f"symmetry {args.symmetry}, optimizer {args.optimizer}, "
          f"{'PH-Net' if args.surrogate == 'phnet' else 'solver'}, device {device}"
          + (f"; continuing from {state}" if resumed else ""), flush=True)
    result = optimize(
        args.objective, n=args.n, volume_fraction=args.vf, volume_constraint=args.vf_constraint, E=args.E,
        nu=args.nu, rho_min=args.rho_min, shape=shape, symmetry=args.symmetry, filter_radius=args.filter_radius,
        penal=args.penal, beta_start=args.beta_start, beta_max=args.beta_max, beta_every=args.beta_every,
        optimizer=args.optimizer, move=args.move, iterations=args.iterations, tol=args.tol,
        solver_tol=args.solver_tol, init=init, seed=args.seed, direction=direction, target=target,
        weights=weights, bounds=args.bound or (), surrogate=None if args.surrogate == "none" else args.surrogate,
        max_error=args.max_error, device=device, state_path=state, checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress)
    files = write_outputs(result, out, stl=not args.no_stl, plots=not args.no_plots)
    consts = engineering_constants(result.CH)
    print(f"{result.stop_reason} after {result.iterations} iterations, {result.seconds:.1f} s"
          + ("" if result.converged else " (not converged: run again with a larger --iterations to continue)"))
    print(f"0/1 cell: volume fraction {result.volume_fraction:.4f}, objective {result.objective_name} = "
          f"{result.objective:.6g} (solver-checked)")
    report = json.loads(open(files["report"]).read())
    hs = report["hashin_shtrikman"]
    G_voigt = report["tensor"]["voigt_reuss"]["G_V"]
    print(f"bulk modulus {report['bulk_modulus']:.5g} = {hs['bulk_ratio']:.1%} of the Hashin-Shtrikman bound "
          f"{hs['bulk_upper']:.5g}; Voigt shear modulus {G_voigt:.5g} = {hs['shear_ratio']:.1%} of "
          f"{hs['shear_upper']:.5g}")
    print(f"C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(result.CH)}")
    print(f"engineering constants:\n{_format_constants(consts)}")
    for note in result.notes:
        print(f"note: {note}")
    print("wrote " + ", ".join(os.path.basename(p) for p in files.values()) + f" in {out}")
    return 0


def _starting_density(args):
    """The start of the design: a voxel file or ``--cell`` (a library cell at --vf, --n), else
    ``--init`` (default sphere). One cell of the design's n; both a cell and --init is an error."""
    source = read_cell_source(args, required=False)
    if source is None:
        return args.init or "sphere"
    if args.init is not None:
        raise UserError(f"--init {args.init}: the design already starts from {source.description}; give one of them")
    vox = source.voxels
    if vox.ndim == 4:
        if vox.shape[0] != 1:
            raise UserError(f"the starting cell must be one cell, got {vox.shape[0]} cells from {source.description}")
        vox = vox[0]
    if vox.shape[0] != args.n:
        raise UserError(f"the starting cell has n = {vox.shape[0]} ({source.description}), but --n is {args.n}; "
                        f"give --n {vox.shape[0]}")
    print(f"start: {source.description}", flush=True)
    return vox


def add_parser(sub) -> None:
    """Register ``design`` and its arguments on the subparsers ``sub``."""
    from ..conventions import DEFAULT_SOFT_RATIO
    from ..design.constraints import VOLUME_CONSTRAINTS
    from ..design.loop import INITS
    from ..design.objectives import OBJECTIVES
    from ..design.optimizers import OPTIMIZERS
    from ..design.symmetry import SYMMETRIES

    p = sub.add_parser("design", help="inverse design: a cell optimised for an objective of its C^H",
                       description="Topology optimisation of a periodic cell (SIMP density, periodic filter, "
                                   "Heaviside projection, MMA or OC; docs/design_optimization.md). Writes "
                                   "design.npy, design.json, design.stl, history.json and PNGs into --out; "
                                   "rerun the same command to continue from --out/state.npz.")
    p.add_argument("--objective", choices=OBJECTIVES, default="bulk",
                   help="bulk, shear, young (maximised), poisson, target (minimised); default bulk")
    p.add_argument("--vf", type=float, default=0.3, help="solid volume fraction (default 0.3)")
    p.add_argument("--vf-constraint", choices=VOLUME_CONSTRAINTS, default="eq",
                   help="eq: the volume fraction equals --vf (default); le: at most --vf")
    p.add_argument("--n", type=int, default=32, help="voxels per cell edge (default 32)")
    add_cell_source_arguments(p, size_options=False)  # start from a voxel file or a library cell
    p.add_argument("--E", type=float, default=1.0, help="Young's modulus of the solid (default 1)")
    p.add_argument("--nu", type=float, default=0.3, help="Poisson ratio of the solid (default 0.3)")
    p.add_argument("--rho-min", type=float, default=DEFAULT_SOFT_RATIO,
                   help=f"SIMP floor: void stiffness / solid stiffness (default {DEFAULT_SOFT_RATIO:g})")
    p.add_argument("--shape", default=None,
                   help="parallelepiped a_xy,a_yz,a_xz,lx,ly,lz (degrees, lengths), or nine numbers: the lattice "
                        "matrix row by row; default cube")
    p.add_argument("--symmetry", choices=SYMMETRIES, default="none", help="enforced exactly (default none)")
    p.add_argument("--filter-radius", type=float, default=2.0, help="periodic hat filter radius in voxels "
                                                                     "(default 2; <= 1: none)")
    p.add_argument("--penal", type=float, default=3.0, help="SIMP exponent (default 3)")
    p.add_argument("--beta-start", type=float, default=1.0, help="Heaviside projection: first beta (0: no "
                                                                  "projection; default 1)")
    p.add_argument("--beta-max", type=float, default=16.0, help="Heaviside projection: last beta (default 16)")
    p.add_argument("--beta-every", type=int, default=20, help="iterations between beta doublings at most "
                                                               "(default 20)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="mma",
                   help="mma (needs mmapy; any objective and bounds) or oc (bulk/shear/young, volume only)")
    p.add_argument("--move", type=float, default=0.2, help="move limit per iteration (default 0.2)")
    p.add_argument("--iterations", type=int, default=200, help="most iterations, counting resumed ones "
                                                                "(default 200)")
    p.add_argument("--tol", type=float, default=0.01, help="converged when no variable changes more than this "
                                                           "(at the last beta; default 0.01)")
    p.add_argument("--solver-tol", type=float, default=1e-6, help="relative residual of each solve (default 1e-6)")
    p.add_argument("--init", choices=INITS, default=None,
                   help="starting density (default sphere; or start from a voxel file or --cell)")
    p.add_argument("--seed", type=int, default=0, help="--init random: the seed")
    p.add_argument("--direction", default=None, metavar="X,Y,Z", help="--objective young: the direction "
                                                                      "(default 1,0,0)")
    p.add_argument("--target", default=None, metavar="FILE.json",
                   help="--objective target: JSON with a 6 x 6 \"CH\" (e.g. phnet homogenize --out) and optional "
                        "\"weights\", or a bare 6 x 6 list")
    p.add_argument("--bound", action="append", default=None, metavar="NAME<=V|NAME>=V",
                   help="a bound on C^H (repeatable): Cij (1-based Voigt), K, G, nu, nu_xy, ..., E_x, E_y, E_z; "
                        "e.g. --bound 'E_x>=0.01'")
    p.add_argument("--surrogate", choices=("none", "phnet"), default="none",
                   help="phnet: evaluate designs with PH-Net (predict --max-error) instead of the solver; the final "
                        "cell is still checked by the solver")
    p.add_argument("--max-error", type=float, default=0.05, help="--surrogate phnet: cells whose error estimate "
                                                                 "exceeds it are refined by the solver (default 0.05)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="iterations between saved states (default 10)")
    p.add_argument("--restart", action="store_true", help="ignore a saved state in --out and start afresh")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-stl", action="store_true", help="do not write design.stl")
    p.add_argument("--no-plots", action="store_true", help="do not write the PNGs")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available, else cpu)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the files and the state")
    add_verbose(p)
    p.set_defaults(func=cmd_design)

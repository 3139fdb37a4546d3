"""``phnet predict``: C^H of voxel cells by PH-Net, with certified upper bounds, a per-cell error
estimate and optional refinement by the solver (of every cell, or of the cells over --max-error)."""

from __future__ import annotations

import json

from .common import (
    _add_cell_arguments,
    _device,
    _format_constants,
    _format_matrix,
    _parse_shape,
    prepare_output,
    read_cell_source,
    write_text,
)


def cmd_predict(args) -> int:
    """``phnet predict``: PH-Net's C^H of every cell of the voxel file (or the ``--cell`` library cell)
    with certified upper bounds of its diagonal and an error estimate (optionally refined by the
    solver: every cell, or those whose estimate exceeds ``--max-error``), printed and written to
    ``--out`` (with where the cells came from); returns the exit status (1 only when
    ``--refine-tol`` or ``--max-error`` was not reached)."""
    from ..post import engineering_constants
    from ..surrogate.predict import predict

    shape = _parse_shape(args.shape)
    device = _device(args.device)
    source = read_cell_source(args)
    vox = source.voxels
    prepare_output(args.out, "--out")  # before the work: a typo in --out must not cost a refinement
    print(f"input: {source.description}")
    res = predict(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, checkpoint=args.checkpoint,
                  refine_tol=args.refine_tol, refine_iters=args.refine_iters, max_error=args.max_error,
                  device=device, cg_steps=args.cg_steps)
    CHs = res.CH if res.CH.dim() == 3 else res.CH[None]
    upper = res.CH_upper if res.CH_upper.dim() == 2 else res.CH_upper[None]
    gaps = None if res.gap is None else (res.gap if res.gap.dim() == 2 else res.gap[None])
    estimates = res.error_estimate.reshape(-1).tolist()
    refined = res.refined.reshape(-1).tolist()
    network = f"PH-Net ({res.cg_steps}-step physics stage)" if res.cg_steps else "PH-Net (network alone)"
    reports = []
    for b, CH in enumerate(CHs.cpu()):
        kind = ("refined (exact to --refine-tol)" if args.refine_tol else
                f"PH-Net + {res.iterations} multigrid-PCG iterations" if args.refine_iters else
                "refined by the solver to meet --max-error" if refined[b] else network)
        print(f"cell {b}: C^H {kind} (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
        print(f"engineering constants:\n{_format_constants(engineering_constants(CH))}")
        print("certified upper bounds of diag C^H: " + " ".join(f"{float(v):.4e}" for v in upper[b]))
        within = ""
        if args.max_error is not None:
            within = (f" (<= --max-error {args.max_error:g})" if estimates[b] <= args.max_error else
                      f" (above --max-error {args.max_error:g})")
        value = f"{estimates[b]:.2%}" if estimates[b] >= 1e-4 else f"{estimates[b]:.1e}"
        print(f"error estimate ||C^H - C^H_true||_F / ||C^H_true||_F: {value}{within}")
        gap_b = None if gaps is None or bool(gaps[b].isnan().any()) else gaps[b]
        if gap_b is not None and args.refine_tol:
            print("bound gap (upper - exact) / exact: " + " ".join(f"{float(v):.2%}" for v in gap_b))
        elif gap_b is not None and args.max_error is not None:
            print("bound gap to the refined C^H: " + " ".join(f"{float(v):.2%}" for v in gap_b))
        elif gap_b is not None:
            print("bound gap to the refined C^H (an underestimate): " + " ".join(f"{float(v):.2%}" for v in gap_b))
        elif args.max_error is not None:
            print("bound gap: not measured (not refined: the estimate is within --max-error)")
        else:
            print("bound gap: not measured (pass --refine-tol, e.g. 1e-6, to get the exact C^H and the gap)")
        reports.append({"cell": b, "CH": CH.tolist(), "engineering_constants": engineering_constants(CH),
                        "CH_upper_diagonal": upper[b].tolist(),
                        "bound_gap": None if gap_b is None else gap_b.tolist(),
                        "error_estimate": estimates[b], "refined": bool(refined[b])})
    t = res.timings
    if args.max_error is not None:
        print(f"--max-error {args.max_error:g}: refined {sum(refined)} of {len(refined)} cell(s) "
              f"({res.iterations} solver iteration{'' if res.iterations == 1 else 's'})")
    print(f"timings: network {t['network'] * 1e3:.1f} ms, stage {t['stage'] * 1e3:.1f} ms "
          f"({res.cg_steps} block-Jacobi CG step{'' if res.cg_steps == 1 else 's'}), "
          f"estimate {t['estimate'] * 1e3:.1f} ms, refine {t['refine'] * 1e3:.1f} ms "
          f"({res.iterations} iteration{'' if res.iterations == 1 else 's'}), total {t['total'] * 1e3:.1f} ms; "
          f"checkpoint {res.checkpoint}")
    if args.out:
        write_text(args.out, json.dumps({"cells": reports, "timings": t, "iterations": res.iterations,
                                         "cg_steps": res.cg_steps, "checkpoint": res.checkpoint,
                                         "resampled": res.resampled, "max_error": args.max_error,
                                         "out_of_distribution": res.out_of_distribution,
                                         "input": source.report()}, indent=2), "--out")
        print(f"wrote {args.out}")
    # a fixed --refine-iters budget is not a convergence request; --refine-tol and --max-error are
    return 0 if res.converged in (None, True) or not (args.refine_tol or args.max_error is not None) else 1


def add_parser(sub) -> None:
    """Register ``predict`` and its arguments on the subparsers ``sub``."""
    pred = sub.add_parser("predict", help="C^H of voxel cells (a voxel file or --cell) by PH-Net (optionally "
                                          "refined to exact)")
    _add_cell_arguments(pred)
    pred.add_argument("--checkpoint", default=None, help="PH-Net checkpoint (default: the shipped model)")
    pred.add_argument("--refine-tol", type=float, default=None,
                      help="warm-start the solver from the prediction and converge to this tolerance")
    pred.add_argument("--refine-iters", type=int, default=None,
                      help="at most this many multigrid-PCG iterations from the prediction (fixed cost; "
                           "1-2 cut the network's C^H error 10-100x)")
    pred.add_argument("--max-error", type=float, default=None,
                      help="refine by the solver (warm-started from the prediction) only the cells whose "
                           "estimated relative C^H error exceeds this, until they meet it (e.g. 0.01)")
    pred.add_argument("--cg-steps", type=int, default=None,
                      help="steps of the model's physics output stage (block-Jacobi CG from the network's "
                           "field; default: the checkpoint's own, 0 = the network alone)")
    pred.set_defaults(func=cmd_predict)

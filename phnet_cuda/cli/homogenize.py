"""``phnet homogenize``: C^H of voxel cells (a voxel file of any supported format, or a library cell) by the
multigrid solver."""

from __future__ import annotations

import json

import numpy as np

from .common import (
    _add_cell_arguments,
    _device,
    _format_constants,
    _format_matrix,
    _parse_shape,
    _report,
    prepare_output,
    read_cell_source,
    write_text,
)


def cmd_homogenize(args) -> int:
    """``phnet homogenize``: solve for C^H of every cell of the voxel file (or the ``--cell`` library cell),
    print it (and write ``--out`` JSON, with where the cells came from); returns 0 if the solver
    converged, else 1."""
    from ..post import engineering_constants
    from ..solver import homogenize
    shape = _parse_shape(args.shape)
    device = _device(args.device)
    source = read_cell_source(args)
    vox = source.voxels
    prepare_output(args.out, "--out")  # before the solve: a typo in --out must not cost the solve
    cells = vox.shape[0] if vox.ndim == 4 else 1
    print(f"input: {source.description}")
    print(f"homogenize: {cells} cell(s), n = {vox.shape[-1]}, device {device}", flush=True)
    res = homogenize(vox, E=args.E, nu=args.nu, soft_ratio=args.soft_ratio, shape=shape, tol=args.tol,
                     device=device, deflate={"auto": "auto", "on": True, "off": False}[args.deflate],
                     semi_coarsening=args.semi_coarsening)
    CHs = res.CH if res.CH.dim() == 3 else res.CH[None]
    reports = []
    for b, CH in enumerate(CHs.cpu()):
        print(f"cell {b}: C^H (Voigt xx yy zz yz xz xy):\n{_format_matrix(CH)}")
        print(f"engineering constants:\n{_format_constants(engineering_constants(CH))}")
        reports.append(_report(CH, res, {"cell": b, "volume_fraction": float(np.mean(vox[b] if vox.ndim == 4 else vox)),
                                         "input": source.report(b)}))
    print(f"{res.iterations} iterations, max residual {float(res.residual.max()):.2e}, "
          f"{'converged' if res.converged else 'NOT converged'}, {res.seconds:.2f} s"
          + (f", rigid motions of {res.deflated} hinged/floating solid pieces deflated" if res.deflated else ""))
    if args.out:
        write_text(args.out, json.dumps(reports if len(reports) > 1 else reports[0], indent=2), "--out")
        print(f"wrote {args.out}")
    return 0 if res.converged else 1


def add_parser(sub) -> None:
    """Register ``homogenize`` and its arguments on the subparsers ``sub``."""
    hom = sub.add_parser("homogenize", help="C^H of voxel cells (a voxel file or --cell) by the solver")
    _add_cell_arguments(hom)
    hom.add_argument("--tol", type=float, default=1e-8)
    hom.add_argument("--deflate", choices=("auto", "on", "off"), default="auto",
                     help="deflate the rigid motions of solid pieces hinged at voxel edges/corners or floating: "
                          "auto (default: once the plain solve is slow), on (from the start), off")
    hom.add_argument("--semi-coarsening", type=float, default=None, metavar="RATIO",
                     help="multigrid semi-coarsening for stretched cells: keep axes coupled more than RATIO "
                          "times more weakly than the strongest (e.g. 2); default: full coarsening")
    hom.set_defaults(func=cmd_homogenize)

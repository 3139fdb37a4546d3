"""``phnet gallery``: PNG sheets of every microstructure-library cell type."""

from __future__ import annotations

import time

from .common import UserError, add_verbose, prepare_output


def cmd_gallery(args) -> int:
    """``phnet gallery``: render PNG sheets of the library's cell types into ``--out``; returns 0."""
    from ..geometry.gallery import render_gallery
    if args.n < 4:
        raise UserError(f"--n: expected an integer >= 4, got {args.n}")
    if not 0 < args.vf < 1:
        raise UserError(f"--vf: expected a number in (0, 1), got {args.vf:g}")
    if args.step < 1:
        raise UserError(f"--step: expected an integer >= 1, got {args.step}")
    families = args.family.split(",") if args.family else None
    names = args.types.split(",") if args.types else None
    prepare_output(args.out, "--out", directory=True)
    t0 = time.perf_counter()
    paths = render_gallery(args.out, n=args.n, volume_fraction=args.vf, families=families, names=names,
                           style="slice" if args.slices else "iso", step_size=args.step, progress=not args.quiet)
    for path in paths:
        print(f"wrote {path}")
    print(f"gallery: {len(paths)} sheet(s) in {time.perf_counter() - t0:.1f} s")
    return 0


def add_parser(sub) -> None:
    """Register ``gallery`` and its arguments on the subparsers ``sub``."""
    gal = sub.add_parser("gallery", help="PNG sheets of every microstructure-library cell type")
    gal.add_argument("--out", required=True, help="output folder (created if missing)")
    gal.add_argument("--n", type=int, default=32, help="voxels per edge of the pictured cells (default 32)")
    gal.add_argument("--vf", type=float, default=0.15,
                     help="target volume fraction, clamped to each type's reachable range (default 0.15)")
    gal.add_argument("--family", default=None, help="comma-separated families (tpms_sheet,tpms_network,truss)")
    gal.add_argument("--types", default=None, help="comma-separated cell types (default: all)")
    gal.add_argument("--slices", action="store_true", help="draw z mid-slices instead of 3D isosurfaces (faster)")
    gal.add_argument("--step", type=int, default=1, help="marching-cubes step size (2 = coarser, faster)")
    gal.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verbose(gal)
    gal.set_defaults(func=cmd_gallery)

"""``phnet dataset build | label | info``: HDF5 cell datasets (``phnet_cuda.data``)."""

from __future__ import annotations

import json
import os

from .common import UserError, _device, add_verbose, prepare_output


def _not_a_dataset(path, exc: Exception) -> UserError:
    """The one-line error for a file that opened as a phnet_cuda dataset but lacks what the format has
    (the data layer lets KeyError/ValueError of a missing or malformed entry through)."""
    first = (str(exc).splitlines() or [""])[0].strip("'\" ")
    return UserError(f"{path} is not a phnet_cuda cell dataset (or is damaged): {type(exc).__name__} reading it"
                     + (f": {first}" if first else ""))


def cmd_dataset_build(args) -> int:
    """``phnet dataset build``: build (or resume) a dataset file and print a summary; returns 0 (Ctrl-C:
    ``main`` reports it with the resume hint set here and returns 130)."""
    from .. import data
    if args.scale is not None and not 0 < args.scale <= 1:
        raise UserError(f"--scale: expected a number in (0, 1], got {args.scale:g}")
    if args.n is not None and args.n < 2:
        raise UserError(f"--n: expected an integer >= 2, got {args.n}")
    if args.max_chunks is not None and args.max_chunks < 1:
        raise UserError(f"--max-chunks: expected an integer >= 1, got {args.max_chunks}")
    resuming = os.path.exists(args.out)
    prepare_output(args.out, "--out")
    args.interrupt_hint = f"{args.out} keeps the chunks written so far; re-run the same command to resume"
    try:
        res = data.build_dataset(args.spec, args.out, n=args.n, scale=args.scale, seed=args.seed,
                                 split_by=args.split_by, max_chunks=args.max_chunks, progress=not args.quiet)
    except KeyError as exc:
        if not resuming:
            raise
        # resuming a file with the format attribute but not the format's contents
        raise _not_a_dataset(args.out, exc) from exc
    print(f"{res['path']}: {res['status']}, {res['chunks_done']}/{res['chunks']} chunks, {res['geometries']} "
          f"cell slots ({res['built']} built, {res['rejected']} rejected, {res['skipped']} out of range), "
          f"{res['samples']} samples, {res['seconds']:.1f} s")
    if res["status"] != "complete":
        print("re-run the same command to continue the build")
    return 0


def cmd_dataset_label(args) -> int:
    """``phnet dataset label``: store numerical C^H for a split of a dataset file; returns the exit status
    (0, 1 if some sample did not converge; Ctrl-C: ``main`` returns 130 with the resume hint set here)."""
    from .. import data
    if args.batch < 1:
        raise UserError(f"--batch: expected an integer >= 1, got {args.batch}")
    if not args.tol > 0:
        raise UserError(f"--tol: expected a positive number, got {args.tol:g}")
    if args.limit is not None and args.limit < 0:
        raise UserError(f"--limit: expected an integer >= 0, got {args.limit}")
    device = _device(args.device)
    if os.path.isfile(args.file):  # the labels are written into the file itself
        prepare_output(args.file, "FILE")
    args.interrupt_hint = f"the labels written so far are kept in {args.file}; re-run to continue"
    try:
        res = data.label_dataset(args.file, args.split, batch=args.batch, device=device, tol=args.tol,
                                 limit=args.limit, progress=not args.quiet)
    except KeyError as exc:  # a file with the format attribute but not the format's contents
        raise _not_a_dataset(args.file, exc) from exc
    print(f"{args.file}: labelled {res['labelled']} samples of split '{args.split}' in {res['seconds']:.1f} s, "
          f"{res['pending']} still pending, {res['not_converged']} not converged (tol {args.tol:g})")
    return 0 if res["not_converged"] == 0 else 1


def cmd_dataset_info(args) -> int:
    """``phnet dataset info``: print a dataset file's summary (as text, or as JSON with ``--json``);
    returns 0."""
    from .. import data
    try:
        info = data.dataset_info(args.file, verify=args.verify)
    except data.DatasetError:
        raise  # already one line naming the file
    except (KeyError, ValueError, TypeError) as exc:  # a missing or malformed entry of a foreign file
        raise _not_a_dataset(args.file, exc) from exc
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['path']}: {info['name']}, {info['status']}, n = {info['n']}, {info['voxel_dtype']} cells, "
          f"{info['file_bytes'] / 2 ** 20:.1f} MiB")
    print(f"  {info['geometries']} cell slots ({info['geometries_built']} built, {len(info['rejected'])} rejected, "
          f"{info['geometries_skipped']} out of range) of "
          f"{len(info['cell_types'])} types, {info['samples']} samples, chunks {info['chunks_done']}/{info['chunks']}")
    for s, d in info.get("split", {}).items():
        print(f"  {s}: {d['samples']} samples, {d['labelled']} labelled ({d['converged']} converged)")
    if "split_rule" in info:
        print(f"  split by {info['split_rule']['by']}, test fraction {info['split_rule']['test_fraction']:g}, "
              f"seed {info['split_rule']['seed']}")
    if info["vf_adjustments"]:
        print(f"  vf grid adjusted for {len(info['vf_adjustments'])} types (out of their reachable range)")
    print(f"  seed {info['seed']}, generator {info['generator']}, labels {info['labels_state']}")
    if args.verify:
        v = info["verified"]
        print(f"  checksums OK ({v['datasets']} datasets; labels {v['labels']})")
    return 0


def add_parser(sub) -> None:
    """Register ``dataset`` with its subcommands ``build``, ``label``, ``info`` on ``sub``."""
    dset = sub.add_parser("dataset", help="build, label and inspect HDF5 cell datasets (phnet_cuda.data)")
    dsub = dset.add_subparsers(dest="dataset_command", required=True)
    build = dsub.add_parser("build", help="build (or resume) a dataset file")
    build.add_argument("--spec", required=True, help="dataset1, dataset2, or a custom .yaml/.json spec")
    build.add_argument("--out", required=True, help="output .h5 file (an unfinished one with the same spec is resumed)")
    build.add_argument("--n", type=int, default=None,
                       help="voxels per edge (default: the spec's, 48 for the built-ins)")
    build.add_argument("--scale", type=float, default=None,
                       help="small version: samples per cell and types per group times SCALE in (0, 1]; vf grid kept")
    build.add_argument("--seed", type=int, default=None, help="override the spec's seed")
    build.add_argument("--split-by", default=None, help="sample | geometry | volume_fraction | type (override)")
    build.add_argument("--max-chunks", type=int, default=None, help="stop after this many chunks (resumable)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verbose(build)
    build.set_defaults(func=cmd_dataset_build)
    label = dsub.add_parser("label", help="store numerical C^H for a split (resumable)")
    label.add_argument("file", help="a complete dataset .h5 file")
    label.add_argument("--split", default="test", help="train | test | all (default test)")
    label.add_argument("--batch", type=int, default=8, help="samples per solve (default 8)")
    label.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    label.add_argument("--tol", type=float, default=1e-6, help="solver tolerance (default 1e-6)")
    label.add_argument("--limit", type=int, default=None, help="label at most this many samples now")
    label.add_argument("--quiet", action="store_true", help="no progress bar")
    add_verbose(label)
    label.set_defaults(func=cmd_dataset_label)
    info = dsub.add_parser("info", help="summary of a dataset file")
    info.add_argument("file")
    info.add_argument("--verify", action="store_true", help="also check every stored checksum")
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_verbose(info)
    info.set_defaults(func=cmd_dataset_info)

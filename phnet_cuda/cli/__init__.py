"""Command line: ``phnet demo`` (main job), ``homogenize``, ``predict``, ``train``, ``dataset``, ``gallery``,
``design``.

Errors in user input (missing files, bad arrays, bad options, unwritable outputs) end with a one-line
message on stderr and exit status 2, never a traceback; any other failure also ends with one line
(exit status 1), and Ctrl-C with ``phnet <cmd>: interrupted`` (exit status 130). ``--verbose``
adds the full detail (underlying exception and traceback) after the line.

This package holds the parser and the entry point (``build_parser``, ``main``; the console
script ``phnet = "phnet_cuda.cli:main"``); each command lives in its own module with its
``cmd_*`` function and the ``add_parser`` that registers its arguments:

* ``common`` - ``UserError``, the exit statuses, output paths (``prepare_output``, ``write_text``),
  the cell a command works on (``add_cell_source_arguments`` / ``read_cell_source``: a voxel file of
  any supported format or a ``--cell`` library cell), --shape / --device parsing (``parse_device``),
  the cell arguments of homogenize and predict, C^H printing and the report dict.
* ``demo`` - the demo application (solver, PH-Net, post-processing, output files).
* ``homogenize``, ``predict``, ``dataset`` (build / label / info), ``gallery``, ``train``, ``design``.

The commands import the library inside their functions, so building the parser needs only
torch and numpy (and ``phnet_cuda.train`` for the train command's arguments).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import dataset, demo, design, gallery, homogenize, predict, train
from .common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, UserError, parse_device
from .dataset import cmd_dataset_build, cmd_dataset_info, cmd_dataset_label
from .demo import cmd_demo
from .design import cmd_design
from .gallery import cmd_gallery
from .homogenize import cmd_homogenize
from .predict import cmd_predict
from .train import cmd_train


def build_parser() -> argparse.ArgumentParser:
    """The ``phnet`` argument parser with every command's subparser registered."""
    parser = argparse.ArgumentParser(prog="phnet", description="Periodic voxel homogenization (phnet_cuda).")
    sub = parser.add_subparsers(dest="command", required=True)
    demo.add_parser(sub)
    homogenize.add_parser(sub)
    dataset.add_parser(sub)
    gallery.add_parser(sub)
    train.add_parser(sub)
    predict.add_parser(sub)
    design.add_parser(sub)
    return parser


def _first_line(exc: BaseException) -> tuple[str, bool]:
    """The first non-empty line of ``exc``'s message (its type name when it has none) and whether more
    lines were cut."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__, False
    return lines[0].strip(), len(lines) > 1


def _report_error(prog: str, exc: BaseException, *, verbose: bool, name_type: bool) -> None:
    """One line on stderr (``PROG: error: ...``); with ``verbose`` the full detail after it."""
    line, cut = _first_line(exc)
    if name_type:
        line = f"{type(exc).__name__}: {line}"
    if not verbose and (cut or name_type or exc.__cause__ is not None):
        line += " (--verbose for details)"
    print(f"{prog}: error: {line}", file=sys.stderr)
    if verbose:
        print("".join(traceback.format_exception(exc)).rstrip(), file=sys.stderr)


def main(argv=None) -> int:
    """Run the ``phnet`` command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Every failure ends with one line on stderr, never a traceback (``--verbose`` adds the detail):
    errors in user input (``UserError``, and the ValueErrors of the library's argument checks) return
    ``EXIT_USAGE`` (2); Ctrl-C prints ``phnet <cmd>: interrupted`` (and the command's resume hint, if it
    has one) and returns ``EXIT_INTERRUPTED`` (130); any other exception returns ``EXIT_FAILURE`` (1)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    prog = f"phnet {args.command}"
    verbose = bool(getattr(args, "verbose", False))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = getattr(args, "interrupt_hint", None)  # set by a command once it has something to resume
        print(f"{prog}: interrupted" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, ValueError) as exc:  # the user's input, also as the library's argument checks see it
        _report_error(prog, exc, verbose=verbose, name_type=False)
        return EXIT_USAGE
    except Exception as exc:  # not the input's fault (a bug, memory, the disk): still one line, not a traceback
        _report_error(prog, exc, verbose=verbose, name_type=True)
        return EXIT_FAILURE


__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "UserError", "build_parser", "cmd_dataset_build",
           "cmd_dataset_info", "cmd_dataset_label", "cmd_demo", "cmd_design", "cmd_gallery", "cmd_homogenize",
           "cmd_predict", "cmd_train", "main", "parse_device"]

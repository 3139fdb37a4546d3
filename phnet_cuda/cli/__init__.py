"""Command line: ``phnet demo`` (main job), ``homogenize``, ``predict``, ``train``, ``dataset``, ``gallery``.

Errors in user input (missing files, bad arrays, bad options) end with a one-line message on
stderr and exit status 2, never a traceback.

This package holds the parser and the entry point (``build_parser``, ``main``; the console
script ``phnet = "phnet_cuda.cli:main"``); each command lives in its own module with its
``cmd_*`` function and the ``add_parser`` that registers its arguments:

* ``common`` - ``UserError``, ``EXIT_USAGE``, voxel files, --shape / --device parsing, the cell
  arguments of homogenize and predict, C^H printing and the report dict.
* ``demo`` - the demo application (solver, PH-Net, post-processing, output files).
* ``homogenize``, ``predict``, ``dataset`` (build / label / info), ``gallery``, ``train``.

The commands import the library inside their functions, so building the parser needs only
torch and numpy (and ``phnet_cuda.train`` for the train command's arguments).
"""

from __future__ import annotations

import argparse
import sys

from . import dataset, demo, gallery, homogenize, predict, train
from .common import EXIT_USAGE, UserError
from .dataset import cmd_dataset_build, cmd_dataset_info, cmd_dataset_label
from .demo import cmd_demo
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
    return parser


def main(argv=None) -> int:
    """Run the ``phnet`` command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status;
    errors in user input print a one-line message and return ``EXIT_USAGE`` (2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # argument validation inside the library
        print(f"phnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


__all__ = ["EXIT_USAGE", "UserError", "build_parser", "cmd_dataset_build", "cmd_dataset_info", "cmd_dataset_label",
           "cmd_demo", "cmd_gallery", "cmd_homogenize", "cmd_predict", "cmd_train", "main"]

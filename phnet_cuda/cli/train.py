"""``phnet train``: label-free PH-Net training (the arguments are those of ``phnet_cuda.train``)."""

from __future__ import annotations

import json


def cmd_train(args) -> int:
    """``phnet train``: run label-free PH-Net training with the parsed arguments and print the run's summary
    as JSON; returns 0."""
    from ..surrogate.train import config_from_args, train

    summary = train(config_from_args(args))
    print(json.dumps(summary))
    return 0


def add_parser(sub) -> None:
    """Register ``train`` on the subparsers ``sub`` with ``phnet_cuda.train``'s own arguments."""
    trn = sub.add_parser("train", help="label-free PH-Net training (resumable; torchrun: python -m phnet_cuda.train)")
    from ..surrogate.train.cli import add_arguments as _train_arguments

    _train_arguments(trn)
    trn.set_defaults(func=cmd_train)

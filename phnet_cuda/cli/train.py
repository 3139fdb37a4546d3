"""``phnet train``: label-free PH-Net training (the arguments are those of ``phnet_cuda.train``)."""

from __future__ import annotations

import json
import os

from .common import parse_device, prepare_output


def cmd_train(args) -> int:
    """``phnet train``: run label-free PH-Net training with the parsed arguments and print the run's summary
    as JSON; returns 0. The config, the device and the run directory are checked before the run starts."""
    from ..surrogate.train import config_from_args, train

    if args.device is not None:
        parse_device(args.device, "--device")
    cfg = config_from_args(args)
    parse_device(cfg.device, "device")  # the config file's, available here? (the run picks cuda:LOCAL_RANK for "cuda")
    prepare_output(cfg.out, "--out", directory=True)
    # the trainer checkpoints every epoch (and at --max-steps) to OUT/last.pt and resumes from it
    args.interrupt_hint = (f"{os.path.join(cfg.out, 'last.pt')} keeps the last finished epoch, if any; re-run the "
                           "same command to resume")
    summary = train(cfg)
    print(json.dumps(summary))
    return 0


def add_parser(sub) -> None:
    """Register ``train`` on the subparsers ``sub`` with ``phnet_cuda.train``'s own arguments."""
    trn = sub.add_parser("train", help="label-free PH-Net training (resumable; torchrun: python -m phnet_cuda.train)")
    from ..surrogate.train.cli import add_arguments as _train_arguments

    _train_arguments(trn)  # --verbose included (python -m phnet_cuda.train has it too)
    trn.set_defaults(func=cmd_train)

"""Command line of the training: the ``phnet train`` flags, merging them over a config file, and
the entry point of ``python -m phnet_cuda.train`` / ``torchrun -m phnet_cuda.train``."""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback

import torch.distributed as dist

from .config import TrainConfig, load_config
from .trainer import train


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the training flags (``--config``, ``--out``, ``--data``, the model and optimiser settings) to ``p``."""
    p.add_argument("--config", help="YAML/JSON file of TrainConfig settings (flags override it)")
    p.add_argument("--out", help="run directory (checkpoints, logs, config); resumes if it holds last.pt")
    p.add_argument("--data", help="'tg' (generated Tubular-Gyroid cells) or an HDF5 dataset file")
    # --resolution is the torchrun-safe spelling: torchrun rejects "--n" as an ambiguous prefix
    # of its own options (--nnodes, --nproc-per-node, ...) even after the module name.
    p.add_argument("--n", "--resolution", dest="n", type=int, help="voxels per edge")
    p.add_argument("--widths", help="comma-separated channel widths, e.g. 64,128,256")
    p.add_argument("--head", type=int)
    p.add_argument("--norm", choices=["batch", "group", "none"])
    p.add_argument("--cg-steps", type=int,
                   help="physics output stage: block-Jacobi CG steps after the network, trained through "
                        "(PHNetConfig.cg_steps; default 0)")
    p.add_argument("--plain", action="store_true",
                   help="the reference architecture without periodic padding, input scaling and zero-mean output")
    p.add_argument("--random-translation", action="store_true",
                   help="roll every training cell by a random periodic shift (C^H is invariant to it)")
    p.add_argument("--corner-mix", type=float, help="share of training shapes at the ends of the shape ranges")
    p.add_argument("--epochs", type=int)
    p.add_argument("--epoch-size", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--schedule", choices=["cosine", "plateau", "none"])
    p.add_argument("--loss-form", choices=["log", "linear"])
    p.add_argument("--eval-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--device")
    p.add_argument("--workers", type=int, help="DataLoader worker processes (default 0)")
    p.add_argument("--no-amp", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--init", help="start a new run from the weights of this checkpoint (fine-tuning)")
    p.add_argument("--init-widen", action="store_true",
                   help="--init from a narrower checkpoint of the same depth (function-preserving widening)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (checkpointed; rerun to continue)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--verbose", action="store_true",
                   help="on an error, also print the full detail (underlying exception, traceback)")


def _widths(text: str) -> list[int]:
    """The channel widths of ``--widths`` ("16,32,64")."""
    parts = [w.strip() for w in text.split(",")]
    if not all(re.fullmatch(r"[0-9]+", w) and int(w) > 0 for w in parts):
        raise ValueError(f"--widths must be comma-separated positive ints, got {text!r}")
    return [int(w) for w in parts]


def config_from_args(args) -> TrainConfig:
    """The ``TrainConfig`` of the parsed flags: the ``--config`` file (if any) with every given flag over it;
    raises a ValueError on bad values."""
    d = load_config(args.config) if args.config else {}
    d = d.get("train", d)  # accept a run directory's config.yaml as is
    if not isinstance(d, dict):
        raise ValueError(f"config file {args.config!r}: 'train' must be a mapping of settings, got {type(d).__name__}")
    d = dict(d)
    model = d.get("model", TrainConfig().model)
    if not isinstance(model, dict):
        raise ValueError(f"train config key 'model' must be a mapping of PH-Net settings (widths, head, norm, ...), "
                         f"got {type(model).__name__} {model!r:.80}")
    model = dict(model)
    simple = {"out": args.out, "data": args.data, "n": args.n, "epochs": args.epochs,
              "epoch_size": args.epoch_size, "batch_size": args.batch_size, "lr": args.lr,
              "schedule": args.schedule, "loss_form": args.loss_form, "eval_size": args.eval_size,
              "seed": args.seed, "device": args.device, "max_steps": args.max_steps, "init": args.init,
              "workers": args.workers, "corner_mix": args.corner_mix}
    d.update({k: v for k, v in simple.items() if v is not None})
    if args.widths is not None:
        model["widths"] = _widths(args.widths)
    if args.head is not None:
        model["head"] = args.head
    if args.norm is not None:
        model["norm"] = args.norm
    if args.cg_steps is not None:
        model["cg_steps"] = args.cg_steps
    if args.plain:
        model.update(periodic=False, scale_invariant=False, zero_mean=False)
    d["model"] = model
    if args.random_translation:
        d["random_translation"] = True
    if args.init_widen:
        d["init_widen"] = True
    if args.no_amp:
        d["amp"] = False
    if args.compile:
        d["compile"] = True
    if args.no_progress:
        d["progress"] = False
    return TrainConfig.from_dict(d)


def main(argv=None) -> int:
    """Entry point of ``python -m phnet_cuda.train``: parse ``argv``, train, print the summary as JSON;
    returns the exit status: 2 for a bad config or argument (one line on stderr; ``--verbose`` adds the
    traceback), 130 on Ctrl-C (the run resumes from its last checkpoint when rerun)."""
    p = argparse.ArgumentParser(prog="phnet-train", description="label-free PH-Net training")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        summary = train(config_from_args(args))
    except KeyboardInterrupt:
        print("phnet train: interrupted; re-run the same command to resume from the last checkpoint", file=sys.stderr)
        return 130
    except ValueError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        print(f"phnet train: error: {lines[0].strip()}", file=sys.stderr)
        if args.verbose:
            print("".join(traceback.format_exception(exc)).rstrip(), file=sys.stderr)
        return 2
    if dist.is_initialized():
        dist.destroy_process_group()
    print(json.dumps(summary))
    return 0

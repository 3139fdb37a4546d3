"""Label-free PH-Net training: minimise the potential energy of the predicted displacements.

Run it as ``phnet train --config run.yaml`` / ``phnet train --out DIR [options]``, or on several
processes/nodes with ``torchrun --nproc_per_node=K -m phnet_cuda.train --out DIR ...``
(DistributedDataParallel; NCCL on GPUs, gloo on CPUs; multi-node through the usual torchrun
rendezvous flags). Every run directory holds ``config.yaml`` (the whole configuration),
``last.pt`` / ``best.pt`` (atomic checkpoints), ``log.csv``, TensorBoard events (when the
``tensorboard`` package is installed) and ``curves.png``. Re-running the same command resumes
exactly where the last checkpoint left off (model, optimiser, scheduler, epoch, position in the
epoch, RNG states).

The package, one concept per module: ``config`` (``TrainConfig``), ``loss``
(``normalised_energy``), ``evaluate`` (held-out labels and delta statistics), ``trainer``
(``Trainer``, ``train``), ``cli`` (flags and ``main``). The generated Tubular-Gyroid cells are
``phnet_cuda.data.synthetic``; checkpoints ``phnet_cuda.surrogate.checkpoint``.
"""

from ...data.loader import collate
from ...data.synthetic import RandomTranslation, TGCells, held_out_batch, held_out_vfs, random_shape
from ...post.tensor import relative_error
from ..checkpoint import atomic_save, export_checkpoint, load_checkpoint, model_from_checkpoint
from ..stage import batch_problem
from .cli import add_arguments, config_from_args, main
from .config import TrainConfig, load_config, vf_grid
from .evaluate import evaluate, label_cells, model_u
from .loss import normalised_energy
from .trainer import LOG_FIELDS, Trainer, plot_curves, train

__all__ = [
    "LOG_FIELDS",
    "RandomTranslation",
    "TGCells",
    "TrainConfig",
    "Trainer",
    "add_arguments",
    "atomic_save",
    "batch_problem",
    "collate",
    "config_from_args",
    "evaluate",
    "export_checkpoint",
    "held_out_batch",
    "held_out_vfs",
    "label_cells",
    "load_checkpoint",
    "load_config",
    "main",
    "model_from_checkpoint",
    "model_u",
    "normalised_energy",
    "plot_curves",
    "random_shape",
    "relative_error",
    "train",
    "vf_grid",
]

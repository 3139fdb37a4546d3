"""Label-free PH-Net training: moved to ``phnet_cuda.surrogate.train``; this path is kept for
compatibility and for ``python -m phnet_cuda.train`` / ``torchrun -m phnet_cuda.train``.

Not imported by ``import phnet_cuda`` (the package attribute ``phnet_cuda.train`` loads it on
first use), so that running it as ``__main__`` does not find it already imported.
"""

import sys

from .surrogate.train import (
    LOG_FIELDS,
    RandomTranslation,
    TGCells,
    TrainConfig,
    Trainer,
    add_arguments,
    atomic_save,
    batch_problem,
    collate,
    config_from_args,
    evaluate,
    export_checkpoint,
    held_out_batch,
    held_out_vfs,
    label_cells,
    load_checkpoint,
    load_config,
    main,
    model_from_checkpoint,
    model_u,
    normalised_energy,
    plot_curves,
    random_shape,
    relative_error,
    train,
    vf_grid,
)

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

if __name__ == "__main__":
    sys.exit(main())

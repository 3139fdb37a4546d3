"""PH-Net, the surrogate: a 3D U-Net that predicts a cell's six displacement fields, trained
label-free by minimising the potential energy, and C^H from its field.

* ``model``       ``PHNet`` / ``PHNetConfig`` (and function-preserving ``widen_model``);
* ``checkpoint``  safe loading, atomic saving, export, the shipped default checkpoint;
* ``stage``       the one path cell -> material tensor -> network -> physics output stage;
* ``estimate``    the per-cell error estimate of a predicted C^H (C^H(u) - C^H* = E^T K E,
  estimated by three two-level-preconditioned CG steps on K x = r, extrapolated);
* ``domain``      what a checkpoint was trained on, and which cells lie outside it;
* ``predict``     ``predict`` / ``PredictionResult``: C^H with certified upper bounds, an error
  estimate per cell, ``max_error`` (refine exactly the cells over it), one out-of-distribution
  warning, the hybrid exact mode;
* ``train``       label-free training (``TrainConfig``, ``Trainer``, ``phnet train``, torchrun).
  Not imported here: it pulls in torch.distributed and argparse, which prediction never needs.
"""

from .checkpoint import DEFAULT_CHECKPOINT, export_checkpoint, load_checkpoint, load_model, model_from_checkpoint
from .model import PHNet, PHNetConfig, count_parameters, widen_model
from .predict import PredictionResult, predict

__all__ = [
    "DEFAULT_CHECKPOINT",
    "PHNet",
    "PHNetConfig",
    "PredictionResult",
    "count_parameters",
    "export_checkpoint",
    "load_checkpoint",
    "load_model",
    "model_from_checkpoint",
    "predict",
    "widen_model",
]

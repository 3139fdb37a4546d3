"""PH-Net prediction: moved to ``phnet_cuda.surrogate.predict``; this path is kept for
compatibility.
"""

from .surrogate.predict import (
    DEFAULT_CHECKPOINT,
    PredictionResult,
    interpolate_periodic,
    load_model,
    predict,
    resample_voxels,
)

__all__ = [
    "DEFAULT_CHECKPOINT",
    "PredictionResult",
    "interpolate_periodic",
    "load_model",
    "predict",
    "resample_voxels",
]

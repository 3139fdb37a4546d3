"""The PH-Net U-Net: moved to ``phnet_cuda.surrogate.model``; this path is kept for compatibility."""

from .surrogate.model import (
    ConvBlock,
    PHNet,
    PHNetConfig,
    count_parameters,
    dataclass_from_dict,
    widen_model,
)

__all__ = [
    "ConvBlock",
    "PHNet",
    "PHNetConfig",
    "count_parameters",
    "dataclass_from_dict",
    "widen_model",
]

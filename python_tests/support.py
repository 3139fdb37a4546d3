"""Test support, importable as `support` (pythonpath in pyproject.toml): the devices and dtypes
to parametrize over (CUDA tests are skipped with a reason when no GPU is present). The random
problems and error measures live in ``phnet_cuda.testing`` (shared with the benchmarks) and are
re-exported here."""

from __future__ import annotations

import pytest
import torch

import phnet_cuda
from phnet_cuda.testing import TOL, assert_rel_close, cubic_grid, frame_with_pieces, random_problem, random_spd, rel_err

CUDA_OK = torch.cuda.is_available() and phnet_cuda.has_cuda_kernels()
CUDA_REASON = "no CUDA device (or library built without CUDA kernels)"

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not CUDA_OK, reason=CUDA_REASON)),
]
DTYPES = [pytest.param(torch.float32, id="f32"), pytest.param(torch.float64, id="f64")]

__all__ = [
    "CUDA_OK",
    "CUDA_REASON",
    "DEVICES",
    "DTYPES",
    "TOL",
    "assert_rel_close",
    "cubic_grid",
    "frame_with_pieces",
    "random_problem",
    "random_spd",
    "rel_err",
]

"""Test support, importable as `support` (pythonpath in pyproject.toml): the devices and dtypes
to parametrize over (CUDA tests are skipped with a reason when no GPU is present), and the SIMT
emulator's test library (the CUDA kernels run on the CPU, ``torch.ops.phnet_simt``). The random
problems and error measures live in ``phnet_cuda.testing`` (shared with the benchmarks) and are
re-exported here."""

from __future__ import annotations

import contextlib

import pytest
import torch

import phnet_cuda
from phnet_cuda import _lib
from phnet_cuda.testing import TOL, assert_rel_close, cubic_grid, frame_with_pieces, random_problem, random_spd, rel_err

CUDA_OK = torch.cuda.is_available() and phnet_cuda.has_cuda_kernels()
CUDA_REASON = "no CUDA device (or library built without CUDA kernels)"

DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=pytest.mark.skipif(not CUDA_OK, reason=CUDA_REASON)),
]
DTYPES = [pytest.param(torch.float32, id="f32"), pytest.param(torch.float64, id="f64")]


def simt_ops():
    """``torch.ops.phnet_simt``: the ops of ``torch.ops.phnet`` whose CPU kernels run the CUDA kernels
    through the SIMT emulator (loads the test library ``_phnet_simt.so`` on first use)."""
    _lib.load_simt_library()
    return torch.ops.phnet_simt


@contextlib.contextmanager
def simt_config(**settings):
    """Emulator settings (``phnet_simt::configure``: max_grid_dim, block_threads, seed, prefill_nan
    and the planted faults block_index_shift, skip_barrier, exit_at_barrier) for the duration of
    the block; the defaults (a GPU's launch configuration, in order, no faults) afterwards."""
    ops = simt_ops()
    ops.configure(**settings)
    try:
        yield ops
    finally:
        ops.configure()


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
    "simt_config",
    "simt_ops",
]

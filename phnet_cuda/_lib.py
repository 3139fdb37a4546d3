"""Locates and loads the compiled op library (``_phnet_ops*.so``) exactly once.

The library is looked for, in order: ``$PHNET_CUDA_LIBRARY``; next to this file (installed
package); in the files of the installed ``phnet_cuda`` distribution (covers running from a
source checkout, whose ``phnet_cuda/`` folder has no compiled library, while an installed
copy exists).
"""

from __future__ import annotations

import glob
import importlib.metadata
import os

import torch

_LOADED: str | None = None


def _candidates() -> list[str]:
    found: list[str] = []
    env = os.environ.get("PHNET_CUDA_LIBRARY")
    if env:
        found.append(env)
    here = os.path.dirname(os.path.abspath(__file__))
    found += sorted(glob.glob(os.path.join(here, "_phnet_ops*.so")))
    try:
        dist = importlib.metadata.distribution("phnet_cuda")
        for f in dist.files or []:
            name = os.path.basename(str(f))
            if name.startswith("_phnet_ops") and name.endswith(".so"):
                found.append(str(dist.locate_file(f)))
    except importlib.metadata.PackageNotFoundError:
        pass
    return found


def load_library() -> str:
    """Load the op library into torch (idempotent); returns its path."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    tried = _candidates()
    for path in tried:
        if os.path.exists(path):
            torch.ops.load_library(path)
            _LOADED = path
            return path
    raise ImportError(
        "phnet_cuda: the compiled op library (_phnet_ops*.so) was not found "
        f"(looked at: {tried or 'nothing installed'}). Build and install the package with "
        "'pip install --no-build-isolation .' in an environment that has torch, or point "
        "PHNET_CUDA_LIBRARY at the built library."
    )


def has_cuda_kernels() -> bool:
    """True when the loaded library carries CUDA kernels (independent of a GPU being present)."""
    load_library()
    return "CUDA" in torch._C._dispatch_dump("phnet::stiffness_apply")

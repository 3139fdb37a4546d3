"""The package version, from one source: the installed distribution's metadata (pyproject.toml's
``version``), so the code never restates it."""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("phnet_cuda")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

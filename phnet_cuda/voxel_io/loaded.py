"""What a format reader hands back: the raw array (before the shared checks), the array's name in
the file, how to describe its shape in the file's own terms, and notes (warnings) of its own."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Loaded:
    """A format reader's result: ``array`` in the cell axis order x, y, z (``[n, n, n]`` or ``[B, n, n, n]``
    for a good file; any shape otherwise, the shared checks report it); ``key``, the array's name
    in a multi-array file; ``layout``, the shape in the file's own terms when that helps a message
    (``10 pages of 64 x 64 pixels``); ``notes``, warnings about the file (non-cubic spacing, ...)."""

    array: np.ndarray
    key: str | None = None
    layout: str | None = None
    notes: list[str] = field(default_factory=list)

    def source(self, path: str) -> str:
        """How messages name the array: the path, with ``['key']`` for a multi-array file."""
        return path if self.key is None else f"{path}[{self.key!r}]"

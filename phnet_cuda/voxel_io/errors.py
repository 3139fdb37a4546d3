"""The error every reader raises for bad input, and how it names the arguments.

A message names the file, what it holds and what was expected, in one line. Where it also names
an argument (``threshold``, ``dims``, ...), it is written with ``option("dims")``: a marker that
renders as the Python keyword (``dims``) in ``str(exc)`` and as the command-line option
(``--dims``) in ``exc.for_command_line()``, so the Python API and the ``phnet`` command share one
set of messages and each speaks its user's language."""

from __future__ import annotations

# A NUL byte cannot occur in a path or an option value, so it cannot collide with a message's text.
_MARK = "\x00"


def option(name: str) -> str:
    """The argument ``name`` (its Python keyword, e.g. ``"scale_255"``) as a marker inside a message."""
    return f"{_MARK}{name}{_MARK}"


def _render(message: str, command_line: bool) -> str:
    parts = message.split(_MARK)
    for i in range(1, len(parts), 2):  # the odd parts are argument names
        parts[i] = "--" + parts[i].replace("_", "-") if command_line else parts[i]
    return "".join(parts)


class _TwoSpellings:
    """A message whose arguments read as Python keywords in ``str()`` and as ``phnet`` options in
    ``for_command_line()``."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(_render(message, command_line=False))

    def for_command_line(self) -> str:
        """The message with its arguments spelled as ``phnet`` options (``--dims`` for ``dims``)."""
        return _render(self.message, command_line=True)


class VoxelInputError(_TwoSpellings, ValueError):
    """Bad voxel input: an unreadable file, an array that is not a voxel cell, a bad argument. One line
    naming the file and what was expected."""


class VoxelWarning(_TwoSpellings, UserWarning):
    """A note about a voxel file that does not stop the read: a cell that is not periodic, voxels that
    are not cubes, a threshold that leaves no void."""

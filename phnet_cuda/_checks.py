"""Argument checks shared by the public API: one definition of each rule and its message.

Each raises ValueError (TypeError for a wrong kind of object) naming the argument, what it got
and what was expected. numpy integer scalars count as ints; bools never do.
"""

from __future__ import annotations

import numbers


def positive_int(x, name: str, *, allow_none: bool = False) -> int | None:
    """``x`` as a Python int >= 1 (None passes through when ``allow_none``)."""
    if x is None and allow_none:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"{name} must be {expected}, got {x!r}")
    return int(x)


def non_negative_int(x, name: str) -> int:
    """``x`` as a Python int >= 0."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 0:
        raise ValueError(f"{name} must be a non-negative int, got {x!r}")
    return int(x)


def positive_number(x, name: str) -> float:
    """``x`` (a real number, numpy scalar or one-element tensor; not a string) as a finite
    Python float > 0."""
    if isinstance(x, (bool, str, bytes)):
        raise ValueError(f"{name} must be a positive number, got {x!r}")
    try:
        value = float(x)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"{name} must be a positive number, got {x!r}") from None
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a positive finite number, got {x!r}")
    return value

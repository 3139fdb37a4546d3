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


def real_number(x, name: str) -> float:
    """``x`` (a real number, numpy scalar or one-element tensor; not a string or bool) as a Python
    float; NaN and inf are rejected."""
    if isinstance(x, (bool, str, bytes)):
        raise TypeError(f"{name} must be a number, got {x!r}")
    try:
        value = float(x)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a number, got {x!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return value


#: The device types the custom ops have kernels for.
OP_DEVICE_TYPES = ("cpu", "cuda")


def device(x, name: str = "device"):
    """``x`` (None, a string such as ``"cpu"`` / ``"cuda:1"``, or a torch.device) as a
    torch.device the ops can run on; None passes through. CUDA must be available and the index
    must exist."""
    import torch  # lazy: this module is also used where torch is not needed

    if x is None:
        return None
    if isinstance(x, str):
        try:
            dev = torch.device(x)
        except RuntimeError:
            raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:N', got {x!r}") from None
    elif isinstance(x, torch.device):
        dev = x
    else:
        raise TypeError(f"{name} must be a string or a torch.device, got {type(x).__name__}")
    if dev.type not in OP_DEVICE_TYPES:
        raise ValueError(f"{name} must be 'cpu', 'cuda' or 'cuda:N' (the ops have kernels for these only), got {x!r}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} = {x!r} requested, but this torch has no usable CUDA device; use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name} = {x!r} requested, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev

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


def _accepted_devices() -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu (no CUDA device is available)"
    return f"cpu, cuda or cuda:N with N < {torch.cuda.device_count()}"


def device(x, name: str = "device"):
    """``x`` (None, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a torch.device of these) as a torch.device
    the ops can run on; None passes through (the caller's default). The ops have cpu and cuda
    kernels only, so meta, mps, xpu, ... are refused; CUDA must be usable and N < the device count.

    ``name`` is the argument as the user wrote it: a Python keyword (``device``, messages like
    ``device='cuda' requested but ...; use device='cpu'``) or a command-line option (``--device``,
    messages like ``--device cuda requested but ...; use --device cpu``). ValueError, or TypeError
    for a value that is neither a string nor a torch.device."""
    import re

    import torch  # lazy: the other checks here do not need torch

    if x is None:
        return None
    if isinstance(x, torch.device):
        x = str(x)
    if not isinstance(x, str):
        raise TypeError(f"{name} must be a device name (str) or a torch.device, got {type(x).__name__} {x!r}")
    shown, use_cpu = (f"{name} {x}", f"{name} cpu") if name.startswith("-") else (f"{name}={x!r}", f"{name}='cpu'")
    m = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", x)
    if m is None or (m.group(1) == "cpu" and m.group(2) not in (None, "0")):
        raise ValueError(f"{shown}: unknown or unsupported device; expected {_accepted_devices()}")
    if m.group(1) == "cpu":
        return torch.device("cpu")
    if torch.version.cuda is None and not torch.cuda.is_available():
        raise ValueError(f"{shown} requested but this torch has no CUDA; use {use_cpu}")
    if not torch.cuda.is_available():
        raise ValueError(f"{shown} requested but no CUDA device is available (torch.cuda.is_available() is "
                         f"False); use {use_cpu}")
    count = torch.cuda.device_count()
    if m.group(2) is not None and int(m.group(2)) >= count:
        raise ValueError(f"{shown}: this machine has {count} CUDA device(s); expected cuda or cuda:N with N < {count}")
    return torch.device(x)

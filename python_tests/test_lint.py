"""Lint is part of the test suite, so the README's test command (and CI) fails on a violation:
ruff (pyflakes, pycodestyle, import order, bugbear, pyupgrade, docstrings; configured in
pyproject.toml) over the Python sources, and clang-format (.clang-format) over csrc/ and its subfolders."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    """The tool installed next to this Python (requirements/cpu.txt pins it), else on PATH."""
    here = pathlib.Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install requirements/cpu.txt (it pins {name})")
    return found


def test_ruff_is_clean():
    res = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_clang_format_is_clean():
    sources = sorted(str(p) for p in (ROOT / "csrc").rglob("*") if p.suffix in (".h", ".cuh", ".cpp", ".cu"))
    assert sources, "no C++ sources found under csrc/"
    res = subprocess.run([_tool("clang-format"), "--dry-run", "--Werror", f"--style=file:{ROOT / '.clang-format'}",
                          *sources], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]


def test_no_blanket_noqa():
    # A noqa must name the rule it silences (and say why): a bare one hides every future problem.
    marker = "# " + "noqa"  # spelled in two parts so that this line is not a hit itself
    bare = [f"{p.relative_to(ROOT)}:{i}" for p in ROOT.glob("**/*.py")
            if not any(part.startswith((".venv", "build", ".git")) for part in p.relative_to(ROOT).parts)
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if marker in line and marker + ":" not in line]
    assert not bare, f"noqa comments without a rule code at {bare}"

"""Loads the compiled op library (``_phnet_ops.so``) into torch, exactly once.

Where it is looked for: only next to this file, so that an import never picks up a library
built for some other copy of the package. ``pip install --no-build-isolation .`` puts it there
(site-packages); in a source checkout an editable install does,
``pip install --no-build-isolation -e . -Cbuild-dir=build/dev`` (CMakeLists.txt copies the
library next to ``phnet_cuda/__init__.py`` after every build). ``$PHNET_CUDA_LIBRARY``, when
set, names the library to load instead: an explicit choice, loaded as it is, without the
staleness check below.

Staleness: when this package is imported from a source checkout (``csrc/`` and
``CMakeLists.txt`` beside ``phnet_cuda/``), the hash of the C++/CUDA sources that the library
was built from (reported by ``phnet::build_info``) must equal the hash of the current
``csrc/`` files, computed the same way (:func:`source_hash`, the recipe of CMakeLists.txt);
otherwise the import fails with an ImportError that says how to rebuild.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

LIBRARY_NAME = "_phnet_ops.so"
SIMT_LIBRARY_NAME = "_phnet_simt.so"
ENV_LIBRARY = "PHNET_CUDA_LIBRARY"
SOURCE_SUFFIXES = (".h", ".cuh", ".cpp", ".cu")
PACKAGE_DIR = Path(__file__).resolve().parent

INSTALL_COMMAND = "pip install --no-build-isolation ."
DEVELOP_COMMAND = "pip install --no-build-isolation -e . -Cbuild-dir=build/dev"

_LOADED: str | None = None
_SIMT_LOADED: str | None = None
_BUILD_INFO: dict | None = None


def source_dir(package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The ``csrc/`` folder of the source checkout this package was imported from, else None.

    A source checkout has ``csrc/`` and ``CMakeLists.txt`` beside the package folder (an
    installed package in site-packages has neither)."""
    root = package_dir.parent
    csrc = root / "csrc"
    return csrc if csrc.is_dir() and (root / "CMakeLists.txt").is_file() else None


def source_hash(csrc: Path) -> str:
    r"""Hash of the C++/CUDA sources in ``csrc`` (hex sha256), as CMakeLists.txt computes it.

    sha256 of the manifest ``"<path>\n<sha256 of the file's bytes>\n"`` over the files under
    ``csrc`` (subfolders included; ``path`` relative to ``csrc`` with ``/``) named ``*.h``,
    ``*.cuh``, ``*.cpp`` or ``*.cu``, none of whose path components starts with ``.``, in the
    order of their paths.
    """
    csrc = Path(csrc)
    files = []
    for folder, subfolders, names in os.walk(csrc):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in names:
            path = Path(folder) / name
            if not name.startswith(".") and name.endswith(SOURCE_SUFFIXES) and path.is_file():
                files.append((path.relative_to(csrc).as_posix(), path))
    manifest = [f"{rel}\n{hashlib.sha256(path.read_bytes()).hexdigest()}\n" for rel, path in sorted(files)]
    return hashlib.sha256("".join(manifest).encode()).hexdigest()


def library_path(package_dir: Path = PACKAGE_DIR, environ=os.environ) -> Path:
    """The library to load: ``$PHNET_CUDA_LIBRARY`` if set, else the one next to this file.

    Raises ImportError (one line: what was looked for, where, and how to build it) when that
    file does not exist."""
    override = environ.get(ENV_LIBRARY)
    if override:
        path = Path(override)
        if not path.is_file():
            raise ImportError(
                f"phnet_cuda: {ENV_LIBRARY}={override} is not a file; expected the path of a "
                f"built {LIBRARY_NAME}, or unset {ENV_LIBRARY} to load the one next to "
                f"{package_dir / '__init__.py'}")
        return path
    path = package_dir / LIBRARY_NAME
    if path.is_file():
        return path
    if source_dir(package_dir) is not None:
        raise ImportError(
            f"phnet_cuda: no compiled op library {path}: this phnet_cuda was imported from the "
            f"source checkout {package_dir.parent}, which has none; build it there with "
            f"'{DEVELOP_COMMAND}', or run from outside the checkout to use an installed "
            f"phnet_cuda")
    raise ImportError(
        f"phnet_cuda: no compiled op library {path}; expected it next to "
        f"{package_dir / '__init__.py'}: reinstall with '{INSTALL_COMMAND}' in an environment "
        f"that has torch, or set {ENV_LIBRARY} to a built {LIBRARY_NAME}")


def check_fresh(info: dict, csrc: Path, library: str | os.PathLike) -> None:
    """Raise ImportError when the library's source hash (``info["source_hash"]``, from
    build_info) differs from the hash of the current files in ``csrc``."""
    built = info.get("source_hash")
    current = source_hash(csrc)
    if built != current:
        raise ImportError(
            f"phnet_cuda: the compiled library is stale: csrc/ changed since it was built "
            f"({library} was built from sources hashing to {str(built)[:12]}, {csrc} now hashes "
            f"to {current[:12]}); rebuild with '{DEVELOP_COMMAND}' (or 'cmake --build build/dev' "
            f"once that build folder exists)")


def _read_build_info() -> dict:
    return json.loads(torch.ops.phnet.build_info())


def load_library() -> str:
    """Load the op library into torch (idempotent); returns its path."""
    global _LOADED
    if _LOADED is not None:
        return _LOADED
    path = library_path()
    torch.ops.load_library(str(path))
    csrc = source_dir()
    if csrc is not None and not os.environ.get(ENV_LIBRARY):
        try:
            info = _read_build_info()
        except (AttributeError, RuntimeError) as exc:  # a library from before build_info
            raise ImportError(
                f"phnet_cuda: the compiled library is stale: {path} has no phnet::build_info "
                f"({exc.__class__.__name__}); rebuild with '{DEVELOP_COMMAND}'") from exc
        check_fresh(info, csrc, path)
    _LOADED = str(path)
    return _LOADED


def build_info() -> dict:
    """How the loaded library was built (``phnet::build_info``), as a dict.

    Keys: ``version`` (package version), ``source_hash`` (of csrc/, see :func:`source_hash`),
    ``torch`` (the version compiled against), ``cuda`` (CUDA kernels compiled),
    ``cuda_version`` (of that torch), ``cuda_architectures`` (list), ``compiler``,
    ``cuda_compiler``, ``cpu_arch`` (the -march value), ``openmp``, ``build_type`` and
    ``kernels``: ``{"CPU": [op, ...], "CUDA": [op, ...]}``, the ops with a kernel registered
    for each backend.
    """
    global _BUILD_INFO
    if _BUILD_INFO is None:
        load_library()
        _BUILD_INFO = _read_build_info()
    return _BUILD_INFO


def has_cuda_kernels() -> bool:
    """True when the loaded library carries CUDA kernels (independent of a GPU being present)."""
    return bool(build_info()["cuda"])


def load_simt_library() -> str:
    """Load the SIMT emulator's test library (``_phnet_simt.so``, ops ``torch.ops.phnet_simt``)
    into torch (idempotent); returns its path. For the tests only: ``import phnet_cuda`` never
    loads it.

    It is looked for next to the op library that :func:`load_library` loaded, and refused, like
    that one, when it was built from other csrc/ sources than those of the checkout. Its ops run
    the CUDA kernels of ``csrc/kernels/`` on CPU tensors (``csrc/simt/``, docs/testing.md).
    """
    global _SIMT_LOADED
    if _SIMT_LOADED is not None:
        return _SIMT_LOADED
    ops_library = Path(load_library())
    path = ops_library.with_name(SIMT_LIBRARY_NAME)
    if not path.is_file():
        raise ImportError(
            f"phnet_cuda: no SIMT emulator library {path} next to {ops_library.name}; every build "
            f"makes it (CMakeLists.txt): rebuild with '{DEVELOP_COMMAND}' in a checkout, or "
            f"'{INSTALL_COMMAND}'")
    torch.ops.load_library(str(path))
    csrc = source_dir()
    if csrc is not None and not os.environ.get(ENV_LIBRARY):
        check_fresh({"source_hash": torch.ops.phnet_simt.source_hash()}, csrc, path)
    _SIMT_LOADED = str(path)
    return _SIMT_LOADED

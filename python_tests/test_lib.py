"""The library loader (phnet_cuda._lib): build_info, the staleness check against csrc/, and the
errors when no library is found."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

import phnet_cuda
from phnet_cuda import _lib

REPO_CSRC = Path(__file__).resolve().parents[1] / "csrc"
OPS = ("element_fields", "energy_loss", "energy_loss_backward", "homogenized_tensor",
       "load_vectors", "phase_gradient", "stiffness_apply")
HEX64 = re.compile(r"[0-9a-f]{64}")


def test_build_info_keys_and_types():
    info = _lib.build_info()
    types = {"version": str, "source_hash": str, "torch": str, "cuda": bool, "cuda_version": str,
             "cuda_architectures": list, "compiler": str, "cuda_compiler": str, "cpu_arch": str,
             "openmp": bool, "build_type": str, "kernels": dict}
    assert set(info) == set(types)
    for key, typ in types.items():
        assert isinstance(info[key], typ), (key, info[key])
    assert HEX64.fullmatch(info["source_hash"])
    assert info["torch"] == torch.__version__  # built against the torch it runs with
    assert info["openmp"]  # without OpenMP at::parallel_for runs on one thread
    assert info["compiler"].strip()
    assert set(info["kernels"]) == {"CPU", "CUDA"}
    assert all(isinstance(a, str) and a for a in info["cuda_architectures"])


def test_build_info_is_the_ops_json():
    raw = torch.ops.phnet.build_info()
    assert isinstance(raw, str) and raw.startswith("{")
    assert _lib.build_info()["source_hash"] in raw


def test_cuda_flag_agrees_with_the_registered_kernels():
    info = _lib.build_info()
    assert sorted(info["kernels"]["CPU"]) == sorted(OPS)
    assert phnet_cuda.has_cuda_kernels() == info["cuda"]
    if info["cuda"]:
        assert sorted(info["kernels"]["CUDA"]) == sorted(OPS)
        assert info["cuda_architectures"] and info["cuda_version"] and info["cuda_compiler"]
    else:
        assert info["kernels"]["CUDA"] == [] and info["cuda_architectures"] == []
    # The same facts through torch's own view of the dispatcher.
    for op in OPS:
        overload = getattr(torch.ops.phnet, op).default
        assert overload.has_kernel_for_dispatch_key("CPU"), op
        assert overload.has_kernel_for_dispatch_key("CUDA") == info["cuda"], op


def test_library_is_loaded_from_next_to_the_package(monkeypatch):
    monkeypatch.delenv(_lib.ENV_LIBRARY, raising=False)
    package = Path(phnet_cuda.__file__).resolve().parent
    assert _lib.library_path() == package / _lib.LIBRARY_NAME
    assert Path(phnet_cuda.load_library()).name == _lib.LIBRARY_NAME


@pytest.mark.skipif(not REPO_CSRC.is_dir(), reason="needs the source checkout's csrc/")
def test_python_hash_of_csrc_equals_the_one_cmake_recorded():
    """CMakeLists.txt and _lib.source_hash must compute the same hash; this fails too when the
    tested library was built from other sources than this checkout's csrc/ (rebuild)."""
    assert _lib.source_hash(REPO_CSRC) == _lib.build_info()["source_hash"]


def _fake_csrc(tmp_path: Path) -> Path:
    csrc = tmp_path / "csrc"
    csrc.mkdir()
    (csrc / "a.h").write_text("#pragma once\n")
    (csrc / "b_cpu.cpp").write_text("int b() { return 1; }\n")
    (csrc / "c_cuda.cu").write_text("__global__ void c() {}\n")
    (csrc / "d.cuh").write_text("// d\n")
    return csrc


def test_source_hash_changes_with_any_source_byte_name_or_file(tmp_path):
    csrc = _fake_csrc(tmp_path)
    base = _lib.source_hash(csrc)
    assert HEX64.fullmatch(base) and _lib.source_hash(csrc) == base

    for name in ("a.h", "b_cpu.cpp", "c_cuda.cu", "d.cuh"):
        path = csrc / name
        original = path.read_bytes()
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # one byte
        assert _lib.source_hash(csrc) != base, name
        path.write_bytes(original)
    assert _lib.source_hash(csrc) == base

    (csrc / "a.h").rename(csrc / "e.h")
    assert _lib.source_hash(csrc) != base
    (csrc / "e.h").rename(csrc / "a.h")
    (csrc / "new_cpu.cpp").write_text("\n")
    assert _lib.source_hash(csrc) != base
    (csrc / "new_cpu.cpp").unlink()
    assert _lib.source_hash(csrc) == base


def test_source_hash_ignores_files_that_are_not_sources(tmp_path):
    csrc = _fake_csrc(tmp_path)
    base = _lib.source_hash(csrc)
    (csrc / "README.md").write_text("notes\n")
    (csrc / ".b_cpu.cpp.swp").write_text("editor\n")
    (csrc / "b_cpu.cpp~").write_text("backup\n")
    (csrc / "sub").mkdir()
    (csrc / "sub" / "notes.txt").write_text("\n")
    (csrc / ".hidden").mkdir()
    (csrc / ".hidden" / "x.cpp").write_text("\n")
    assert _lib.source_hash(csrc) == base


def test_source_hash_covers_the_subfolders(tmp_path):
    """csrc/kernels/ and csrc/simt/ hold sources too: a file there counts with its relative path."""
    csrc = _fake_csrc(tmp_path)
    base = _lib.source_hash(csrc)
    (csrc / "kernels").mkdir()
    kernel = csrc / "kernels" / "k.cuh"
    kernel.write_text("// k\n")
    with_kernel = _lib.source_hash(csrc)
    assert with_kernel != base
    kernel.write_text("// k2\n")
    assert _lib.source_hash(csrc) not in (base, with_kernel)
    kernel.write_text("// k\n")
    assert _lib.source_hash(csrc) == with_kernel
    (csrc / "kernels").rename(csrc / "simt")  # the same file in another folder
    assert _lib.source_hash(csrc) != with_kernel


@pytest.mark.skipif(not REPO_CSRC.is_dir(), reason="needs the source checkout's csrc/")
@pytest.mark.parametrize("source", ["element_math.h", "kernels/common.cuh", "simt/emulator.cpp"])
def test_an_edit_anywhere_in_csrc_makes_the_library_stale(tmp_path, source):
    csrc = tmp_path / "csrc"
    shutil.copytree(REPO_CSRC, csrc)
    info = {"source_hash": _lib.source_hash(csrc)}
    path = csrc / source
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(ImportError, match="stale"):
        _lib.check_fresh(info, csrc, "/x/_phnet_ops.so")


def test_the_simt_test_library_is_fresh():
    """It is built with the op library (CMakeLists.txt) and checked against the same csrc/ hash."""
    path = _lib.load_simt_library()
    assert Path(path).name == _lib.SIMT_LIBRARY_NAME
    assert Path(path).parent == Path(_lib.load_library()).parent
    assert torch.ops.phnet_simt.source_hash() == _lib.build_info()["source_hash"]


@pytest.mark.skipif(not REPO_CSRC.is_dir(), reason="needs the source checkout's csrc/")
def test_check_fresh_reports_a_stale_library(tmp_path):
    csrc = tmp_path / "csrc"
    shutil.copytree(REPO_CSRC, csrc)
    info = {"source_hash": _lib.source_hash(csrc)}
    _lib.check_fresh(info, csrc, "/x/_phnet_ops.so")  # fresh: no error

    path = csrc / "element_math.h"
    path.write_bytes(path.read_bytes() + b" ")
    with pytest.raises(ImportError) as err:
        _lib.check_fresh(info, csrc, "/x/_phnet_ops.so")
    message = str(err.value)
    assert "\n" not in message
    assert "the compiled library is stale: csrc/ changed since it was built" in message
    assert "/x/_phnet_ops.so" in message and str(csrc) in message
    assert info["source_hash"][:12] in message and _lib.source_hash(csrc)[:12] in message
    assert _lib.DEVELOP_COMMAND in message


def test_check_fresh_reports_a_library_without_a_hash(tmp_path):
    csrc = _fake_csrc(tmp_path)
    with pytest.raises(ImportError, match="stale"):
        _lib.check_fresh({}, csrc, "lib.so")


def _fake_package(root: Path, checkout: bool) -> Path:
    package = root / "phnet_cuda"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    if checkout:
        _fake_csrc(root)
        (root / "CMakeLists.txt").write_text("")
    return package


def test_not_found_in_an_installed_package_says_how_to_install(tmp_path):
    package = _fake_package(tmp_path / "site-packages", checkout=False)
    with pytest.raises(ImportError) as err:
        _lib.library_path(package, environ={})
    message = str(err.value)
    assert "\n" not in message
    assert f"no compiled op library {package / _lib.LIBRARY_NAME}" in message
    assert _lib.INSTALL_COMMAND in message and _lib.ENV_LIBRARY in message


def test_not_found_in_a_source_checkout_says_how_to_build_there(tmp_path):
    package = _fake_package(tmp_path / "checkout", checkout=True)
    assert _lib.source_dir(package) == tmp_path / "checkout" / "csrc"
    with pytest.raises(ImportError) as err:
        _lib.library_path(package, environ={})
    message = str(err.value)
    assert "\n" not in message
    assert f"no compiled op library {package / _lib.LIBRARY_NAME}" in message
    assert "source checkout" in message and _lib.DEVELOP_COMMAND in message


def test_only_the_library_next_to_the_package_is_used(tmp_path):
    package = _fake_package(tmp_path / "checkout", checkout=True)
    # A library elsewhere (a build folder, another environment) is never picked up.
    build = tmp_path / "checkout" / "build" / "dev"
    build.mkdir(parents=True)
    (build / _lib.LIBRARY_NAME).write_bytes(b"")
    with pytest.raises(ImportError):
        _lib.library_path(package, environ={})
    (package / _lib.LIBRARY_NAME).write_bytes(b"")
    assert _lib.library_path(package, environ={}) == package / _lib.LIBRARY_NAME


def test_explicit_override(tmp_path):
    package = _fake_package(tmp_path / "site-packages", checkout=False)
    library = tmp_path / "elsewhere.so"
    library.write_bytes(b"")
    assert _lib.library_path(package, environ={_lib.ENV_LIBRARY: str(library)}) == library
    missing = tmp_path / "missing.so"
    with pytest.raises(ImportError) as err:
        _lib.library_path(package, environ={_lib.ENV_LIBRARY: str(missing)})
    message = str(err.value)
    assert "\n" not in message and f"{_lib.ENV_LIBRARY}={missing} is not a file" in message


def test_source_dir_is_none_for_an_installed_package(tmp_path):
    package = _fake_package(tmp_path / "site-packages", checkout=False)
    assert _lib.source_dir(package) is None
    (tmp_path / "site-packages" / "csrc").mkdir()  # some other distribution's folder
    assert _lib.source_dir(package) is None

"""Interrupted and concurrent dataset jobs (phnet_cuda.data.build / label / h5): a build killed
while its file is being created starts over, one killed after its header resumes; two writers
of one file never run together; a file held by another process is reported as in use; damaged
and foreign files give a one-line DatasetError from every entry point, never a KeyError."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from data.helpers import assert_same_contents, tiny_spec

from phnet_cuda import data
from phnet_cuda.data import build as build_mod
from phnet_cuda.data import h5 as h5_mod


def _one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg, f"not a one-line message: {msg!r}"
    return msg


def _clean_dir(folder, keep) -> None:
    """Only the files of ``keep`` are left: no temporary file, no lock file."""
    assert sorted(os.listdir(folder)) == sorted(keep)


def _build_quietly(out, **kw):
    """A build that must not warn (a resume, not a restart)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        return data.build_dataset(tiny_spec(), out, progress=False, **kw)


def _run_python(code: str, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


# -- a build interrupted at its start --------------------------------------------------------------

KILLED_IN_CREATE = r"""
import json, os, sys
from phnet_cuda import data
from phnet_cuda.data import build as b

def create_and_die(f, spec, plan, spec_text):
    f.attrs["format"] = "phnet_cuda.cell_dataset"
    f.attrs["format_version"] = 1
    f.create_group("geometry")
    if sys.argv[2] == "flush":
        f.flush()
    os._exit(9)  # a kill: no cleanup runs

def chunk_and_die(f, *args):
    f["geometry/voxels"][0] = 1  # half-written cell data, never flushed
    os._exit(9)

if sys.argv[2] == "after_header":
    b._build_chunk = chunk_and_die
else:
    b._create = create_and_die
data.build_dataset(json.loads(sys.argv[3]), sys.argv[1], progress=False)
"""


@pytest.mark.parametrize("flush", ["flush", "noflush"])
def test_kill_while_the_file_is_created_starts_over(tiny_file, tmp_path, flush):
    out = tmp_path / "ds.h5"
    res = _run_python(KILLED_IN_CREATE, out, flush, json.dumps(tiny_spec()))
    assert res.returncode == 9, res.stderr
    # the kill left only the temporary file: nothing under the dataset's own name
    assert not out.exists() and (tmp_path / "ds.h5.partial").exists()
    with pytest.warns(RuntimeWarning, match=r"ds\.h5\.partial: left by a build interrupted .*starting .* over"):
        res = data.build_dataset(tiny_spec(), out, progress=False)
    assert res["status"] == "complete"
    assert_same_contents(tiny_file, out)
    assert data.verify_file(out)["labels"] == "verified"
    _clean_dir(tmp_path, ["ds.h5"])


def test_kill_after_the_header_resumes(tiny_file, tmp_path):
    out = tmp_path / "ds.h5"
    res = _run_python(KILLED_IN_CREATE, out, "after_header", json.dumps(tiny_spec()))
    assert res.returncode == 9, res.stderr
    _clean_dir(tmp_path, ["ds.h5", "ds.h5.lock"])  # the killed writer's lock file stays, its lock is gone
    assert data.dataset_info(out)["chunks_done"] == 0  # opens: the header was on disk before the name appeared
    assert _build_quietly(out)["status"] == "complete"  # resumed, not started over
    assert_same_contents(tiny_file, out)
    _clean_dir(tmp_path, ["ds.h5"])


@pytest.mark.parametrize("leftover", ["truncated", "garbage", "empty"])
def test_incomplete_temporary_file_is_removed(tiny_file, tmp_path, leftover):
    out = tmp_path / "ds.h5"
    partial = tmp_path / "ds.h5.partial"
    if leftover == "truncated":  # a header cut short in the middle of being written
        partial.write_bytes(tiny_file.read_bytes()[:3000])
    elif leftover == "garbage":
        partial.write_bytes(os.urandom(500))
    else:
        partial.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="starting .* over"):
        assert data.build_dataset(tiny_spec(), out, progress=False)["status"] == "complete"
    assert_same_contents(tiny_file, out)
    _clean_dir(tmp_path, ["ds.h5"])


def test_interrupt_right_after_the_file_appears(tiny_file, tmp_path, monkeypatch):
    out = tmp_path / "ds.h5"
    # Ctrl-C while the header is written: nothing is left, not even the temporary file
    real_create = build_mod._create

    def create_interrupted(f, *args):
        f.attrs["format"] = data.FORMAT
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "_create", create_interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.build_dataset(tiny_spec(), out, progress=False)
    _clean_dir(tmp_path, [])
    monkeypatch.setattr(build_mod, "_create", real_create)
    # Ctrl-C in the first cell: the header is complete, so the file is resumed, not restarted
    real_chunk = build_mod._build_chunk

    def chunk_interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "_build_chunk", chunk_interrupted)
    with pytest.raises(KeyboardInterrupt):
        data.build_dataset(tiny_spec(), out, progress=False)
    monkeypatch.setattr(build_mod, "_build_chunk", real_chunk)
    _clean_dir(tmp_path, ["ds.h5"])
    info = data.dataset_info(out)
    assert info["status"] == "building" and (info["chunks_done"], info["chunks"]) == (0, 3)
    assert _build_quietly(out, max_chunks=1)["chunks_done"] == 1  # resumes with some chunks built
    assert _build_quietly(out)["status"] == "complete"
    assert_same_contents(tiny_file, out)


def test_target_with_an_incomplete_header_starts_over(tiny_file, tmp_path):
    """Defensive: a file an earlier version left when killed in its first milliseconds."""
    out = tmp_path / "ds.h5"
    with h5py.File(out, "w") as f:  # the format attributes, then the kill
        f.attrs["format"] = data.FORMAT
        f.attrs["format_version"] = data.FORMAT_VERSION
        f.attrs["status"] = "building"
        f.create_group("geometry")
    for reader in (data.dataset_info, data.verify_file, data.CellDataset):
        with pytest.raises(data.DatasetCorruptError, match="incomplete or damaged dataset header") as exc:
            reader(out)
        _one_line(exc)
    with pytest.warns(RuntimeWarning, match=r"header is incomplete \(attribute 'spec' is missing\).*starting it over"):
        assert data.build_dataset(tiny_spec(), out, progress=False)["status"] == "complete"
    assert_same_contents(tiny_file, out)
    for leftover in (b"", None):  # a 0-byte file, an HDF5 file with nothing in it
        if leftover is None:
            h5py.File(out, "w").close()
        else:
            out.write_bytes(leftover)
        with pytest.warns(RuntimeWarning, match="starting it over"):
            data.build_dataset(tiny_spec(), out, progress=False)
        assert_same_contents(tiny_file, out)
    _clean_dir(tmp_path, ["ds.h5"])


def test_files_that_are_not_ours_are_never_removed(tmp_path):
    spec = tiny_spec()
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(5)
    garbage = tmp_path / "notes.h5"
    garbage.write_bytes(b"my notes, not HDF5 " * 100)
    before = {p: p.read_bytes() for p in (foreign, garbage)}
    with pytest.raises(data.DatasetError, match="not a phnet_cuda cell dataset") as exc:
        data.build_dataset(spec, foreign, progress=False)
    _one_line(exc)
    with pytest.raises(data.DatasetCorruptError, match=r"notes\.h5: cannot open .*delete it to start over") as exc:
        data.build_dataset(spec, garbage, progress=False)
    _one_line(exc)
    assert {p: p.read_bytes() for p in before} == before
    _clean_dir(tmp_path, ["foreign.h5", "notes.h5"])


# -- two writers -----------------------------------------------------------------------------------

CONCURRENT_BUILD = r"""
import json, os, sys, time
from phnet_cuda import data
from phnet_cuda.data import build as b

real = b._build_chunk
def slow_chunk(*args):
    time.sleep(0.3)  # long enough for the other process to arrive while this one builds
    return real(*args)
b._build_chunk = slow_chunk
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
try:
    data.build_dataset(json.loads(sys.argv[3]), sys.argv[1], progress=False)
except data.DatasetError as exc:
    print(f"error: {exc}", flush=True)
    sys.exit(3)
print("done", flush=True)
"""


def test_two_builds_started_together(tiny_file, tmp_path):
    out, go = tmp_path / "ds.h5", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_BUILD, str(out), str(go), json.dumps(tiny_spec())],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:  # both have imported everything: start them at the same moment
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()
        results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 3], results
    winner = procs[[rc for rc, _, _ in results].index(0)]
    loser_out = next(o for rc, o, _ in results if rc == 3).strip()
    assert loser_out == (f"error: {out} is being written by another process (pid {winner.pid}); wait for it or "
                         "choose another --out")
    assert data.verify_file(out)["labels"] == "verified"
    assert_same_contents(tiny_file, out)
    go.unlink()
    _clean_dir(tmp_path, ["ds.h5"])


def test_writers_exclude_each_other(tiny_file, tmp_path):
    path = tmp_path / "ds.h5"
    shutil.copy(tiny_file, path)
    with h5_mod.write_lock(path, hint="wait for it to finish"):  # as a labeller holds it
        assert (tmp_path / "ds.h5.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(data.DatasetError, match=rf"ds\.h5 is being written by another process "
                                                    rf"\(pid {os.getpid()}\); wait for it to finish") as exc:
            data.label_dataset(path, "test", limit=1, progress=False)
        _one_line(exc)
        with pytest.raises(h5_mod.DatasetInUseError, match=r"pid \d+\); wait for it or choose another --out"):
            data.build_dataset(tiny_spec(), path, progress=False)
        assert data.dataset_info(path)["status"] == "complete"  # readers do not need the writers' lock
    _clean_dir(tmp_path, ["ds.h5"])
    assert_same_contents(tiny_file, path)  # nothing was written
    # a lock file left by a killed writer (the kernel released its lock) does not block anyone
    (tmp_path / "ds.h5.lock").write_text("999999\n")
    out = tmp_path / "new.h5"
    (tmp_path / "new.h5.lock").write_text("999999\n")
    assert data.build_dataset(tiny_spec(), out, progress=False)["status"] == "complete"
    _clean_dir(tmp_path, ["ds.h5", "ds.h5.lock", "new.h5"])


# -- a file another process has open ---------------------------------------------------------------

HOLD = r"""
import sys, h5py
f = h5py.File(sys.argv[1], sys.argv[2])
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
f.close()
"""


class _Holder:
    """A process that keeps a file open with h5py (HDF5 takes its file lock) until closed."""

    def __init__(self, path, mode):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "holding", self.proc.stderr.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def test_busy_file_is_reported_as_in_use(tiny_file, tmp_path):
    path = tmp_path / "ds.h5"
    shutil.copy(tiny_file, path)
    in_use = r"ds\.h5 is in use by another process \(HDF5 file lock\)"
    with _Holder(path, "r+"):  # a writer without our lock (e.g. a labeller of an older version)
        for entry in (data.dataset_info, data.verify_file, data.CellDataset,
                      lambda p: data.label_dataset(p, limit=1, progress=False),
                      lambda p: data.build_dataset(tiny_spec(), p, progress=False)):
            with pytest.raises(h5_mod.DatasetInUseError, match=in_use) as exc:
                entry(path)
            assert "corrupt" not in _one_line(exc)
    with _Holder(path, "r"):  # a reader: other readers share the file, writers wait
        assert data.verify_file(path)["labels"] == "verified"
        with h5py.File(tiny_file, "r") as f:
            assert len(data.CellDataset(path, "test")) == len(f["split/test"]) > 0
        assert data.build_dataset(tiny_spec(), path, progress=False)["status"] == "complete"  # nothing to write
        with pytest.raises(h5_mod.DatasetInUseError, match=in_use) as exc:
            data.label_dataset(path, limit=1, progress=False)
        _one_line(exc)
    _clean_dir(tmp_path, ["ds.h5"])
    assert_same_contents(tiny_file, path)


# -- foreign and damaged files ---------------------------------------------------------------------

def _entry_points(path):
    """Every public way into a dataset file, as (name, call)."""
    return [("dataset_info", lambda: data.dataset_info(path)),
            ("dataset_info(verify)", lambda: data.dataset_info(path, verify=True)),
            ("verify_file", lambda: data.verify_file(path)),
            ("CellDataset", lambda: data.CellDataset(path, "train")),
            ("CellDataset(verify=False)", lambda: data.CellDataset(path, "all", verify=False)),
            ("label_dataset", lambda: data.label_dataset(path, "test", limit=1, progress=False)),
            ("build_dataset", lambda: data.build_dataset(tiny_spec(), path, progress=False))]


def _damage(kind, tiny_file, path):
    if kind == "foreign":
        with h5py.File(path, "w") as f:
            f["data"] = np.random.default_rng(0).random((4, 3))
            f.attrs["format"] = "someone.else"
        return
    shutil.copy(tiny_file, path)
    with h5py.File(path, "r+") as f:
        if kind == "foreign_no_attrs":
            for k in list(f):
                del f[k]
            for k in list(f.attrs):
                del f.attrs[k]
            f["table"] = np.arange(3)
        elif kind == "missing_dataset":
            del f["labels/CH"]
        elif kind == "missing_split":
            del f["split"]
        elif kind == "missing_checksums":
            del f.attrs["checksums"]
        elif kind == "bad_json":
            f.attrs["checksums"] = "{not json"
        elif kind == "wrong_shape":
            del f["samples/E"]
            f["samples/E"] = np.ones(5)
        elif kind == "bad_split":
            del f["split/test"]
            f["split/test"] = np.array([0, 10 ** 6])


@pytest.mark.parametrize("kind", ["foreign", "foreign_no_attrs", "missing_dataset", "missing_split",
                                  "missing_checksums", "bad_json", "wrong_shape", "bad_split"])
def test_foreign_and_damaged_files_give_a_dataset_error_everywhere(tiny_file, tmp_path, kind):
    path = tmp_path / "ds.h5"
    _damage(kind, tiny_file, path)
    before = path.read_bytes()
    for name, call in _entry_points(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # nothing is started over, either
                call()
        except data.DatasetError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg and "ds.h5" in msg, (name, msg)
        except Exception as exc:  # a KeyError, an OSError traceback, ...
            pytest.fail(f"{name} on a {kind} file raised {type(exc).__name__}: {exc}")
        else:
            pytest.fail(f"{name} accepted a {kind} file")
    assert path.read_bytes() == before  # refused, never modified or removed
    _clean_dir(tmp_path, ["ds.h5"])


def test_lock_file_lifecycle(tmp_path):
    """The lock file of a writer is removed when it finishes (also when it fails), and a missing
    file gets no lock file."""
    with pytest.raises(data.DatasetError, match="not found"):
        data.label_dataset(tmp_path / "missing.h5", progress=False)
    with pytest.raises(RuntimeError, match="boom"), h5_mod.write_lock(tmp_path / "x.h5", hint="h"):
        assert (tmp_path / "x.h5.lock").read_text() == f"{os.getpid()}\n"
        raise RuntimeError("boom")
    _clean_dir(tmp_path, [])

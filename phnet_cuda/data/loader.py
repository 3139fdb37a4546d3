"""The torch side of a dataset file: a ``Dataset`` over one split, collation and a loader.

``CellDataset`` serves the samples of a split as (batched) dicts of compact tensors, caching the
cells in memory or reading them lazily per process; ``make_loader`` wraps it in a ``DataLoader``
(random, sequential or ``DistributedSampler`` order); ``to_device`` / ``material_tensor`` build
the network's 36-channel input on the target device. It is separate from the format (``h5``)
because it is the only part that depends on torch's data machinery and on the training-time
layout of a batch; it reads files only through ``h5`` and the split names of ``spec``.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict

import numpy as np
import torch

from .._checks import positive_int
from .h5 import (
    DatasetCorruptError,
    _first_line,
    _require_complete,
    _split_indices,
    _text_attr,
    open_file,
    read_rows,
    verify_file,
)
from .spec import SPLITS


class CellDataset(torch.utils.data.Dataset):
    """A split of a dataset file as a torch ``Dataset``.

    ``ds[i]`` (int) is one sample, ``ds[[i, j, ...]]`` an already batched dict (one vectorised
    gather; ``make_loader`` uses it with a ``BatchSampler``). Keys (B = batch dims, none for an
    int index):

    * ``vox`` ``[B, n, n, n]`` uint8 (float16/32 for fractional files): the cell on the cube;
    * ``E``, ``nu``, ``soft_ratio`` ``[B]`` float64; ``shape`` ``[B, 6]`` float64 (library
      convention, unit volume); ``volume_fraction`` ``[B]`` float64 (measured);
    * ``CH`` ``[B, 6, 6]`` float64 (NaN where not labelled), ``labelled`` ``[B]`` bool (a
      converged label exists);
    * ``index`` (sample id in the file) and ``geometry`` ``[B]`` int64.

    The 36-channel input is NOT stored: ``to_device`` builds it on the target device.

    Args:
        path: a complete dataset file.
        split: ``"train"``, ``"test"`` or ``"all"``.
        device: None = CPU tensors (use with DataLoader workers); a device (e.g. ``"cuda"``) keeps
            the cached cells and tables there and returns tensors on it (``num_workers=0``): for
            small files the fastest way to feed a GPU.
        cache: ``"auto"`` (cache the split's cells in memory when they take <= ``cache_bytes``),
            True or False. Uncached reads go through a small per-process LRU of cells.
        verify: check the checksums on opening (``verify_file``); corrupt files raise
            DatasetCorruptError.
    The HDF5 file is opened lazily in each process that reads (h5py handles do not survive a
    fork), and never kept open by the constructor.
    """

    def __init__(self, path, split: str = "train", *, device=None, cache="auto", cache_bytes: int = 1 << 30,
                 verify: bool = True, lru: int = 64):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if cache not in ("auto", True, False):
            raise ValueError(f"cache must be 'auto', True or False, got {cache!r}")
        self.path = str(path)
        self.split = split
        self.device = torch.device(device) if device is not None else None
        if verify:
            state = verify_file(self.path)["labels"]
            if state == "in progress":
                warnings.warn(f"{self.path}: labels were being written when the file was last closed (interrupted "
                              "labelling); they are not verified. Re-run `phnet dataset label` to finish.",
                              RuntimeWarning, stacklevel=2)
        try:
            with open_file(self.path) as f:
                _require_complete(f, self.path)
                self.indices = _split_indices(f, split, self.path)
                self.n = int(f.attrs["n"])
                self.name = str(_text_attr(f, "name"))
                vox = f["geometry/voxels"]
                self.voxel_dtype = vox.dtype
                sg = np.asarray(f["samples/geometry"][...])[self.indices]
                tables = {"geometry": sg,
                          "E": np.asarray(f["samples/E"][...])[self.indices],
                          "nu": np.asarray(f["samples/nu"][...])[self.indices],
                          "soft_ratio": np.asarray(f["samples/soft_ratio"][...])[self.indices],
                          "shape": np.asarray(f["samples/shape"][...])[self.indices],
                          "volume_fraction": np.asarray(f["geometry/vf"][...])[sg],
                          "CH": np.asarray(f["labels/CH"][...])[self.indices],
                          "labelled": np.asarray(f["labels/converged"][...])[self.indices] == 1,
                          "index": self.indices}
                self.geometries = np.unique(sg)
                cell_bytes = self.n ** 3 * vox.dtype.itemsize
                fits = len(self.geometries) * cell_bytes <= cache_bytes
                self.cached = bool(cache is True or (cache == "auto" and fits))
                self._cells = None
                if self.cached:
                    self._cells = torch.from_numpy(read_rows(vox, self.geometries))
        except OSError as exc:  # a damaged table or cell chunk (verify=False): one line naming the file
            raise DatasetCorruptError(f"{self.path}: cannot read it ({_first_line(exc)}); the file is corrupt or "
                                      "truncated: rebuild it") from exc
        # row of each sample's cell in the cache (cached) / geometry index in the file (uncached)
        row = np.searchsorted(self.geometries, tables["geometry"]) if self.cached else tables["geometry"]
        self._row = torch.from_numpy(row.astype(np.int64))
        self._tables = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tables.items()}
        if self.device is not None:
            self._tables = {k: v.to(self.device) for k, v in self._tables.items()}
            self._row = self._row.to(self.device)
            if self._cells is not None:
                self._cells = self._cells.to(self.device)
        self._file = None
        self._pid = None
        self._lru: OrderedDict = OrderedDict()
        self._lru_size = int(lru)

    def __len__(self) -> int:
        return len(self.indices)

    # -- file access (lazy, per process)
    def _h5file(self):
        if self._file is None or self._pid != os.getpid():
            self._file = open_file(self.path)  # a forked copy of a parent's handle is not used
            self._pid = os.getpid()
            self._lru.clear()
        return self._file

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_lru"] = None, None, OrderedDict()
        return state

    def close(self) -> None:
        """Close this process's HDF5 handle (reopened on the next uncached read)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def _read_cells(self, geoms: np.ndarray) -> torch.Tensor:
        missing = sorted({int(g) for g in geoms} - set(self._lru))
        if missing:
            try:
                data = read_rows(self._h5file()["geometry/voxels"], missing)
            except OSError as exc:
                raise DatasetCorruptError(f"{self.path}: cannot read cells {missing[:4]}... "
                                          f"({str(exc).splitlines()[0]})") from None
            for g, cell in zip(missing, data):
                self._lru[g] = torch.from_numpy(cell)
        for g in geoms:
            self._lru.move_to_end(int(g))
        out = torch.stack([self._lru[int(g)] for g in geoms])
        while len(self._lru) > max(self._lru_size, len(set(geoms.tolist()))):
            self._lru.popitem(last=False)
        return out.to(self.device) if self.device is not None else out

    # -- items
    def __getitem__(self, item):
        single = isinstance(item, (int, np.integer)) or (isinstance(item, torch.Tensor) and item.dim() == 0)
        if single:
            pos = torch.tensor([int(item)])
        else:
            pos = torch.as_tensor(item, dtype=torch.int64).reshape(-1)
        if self.device is not None and self.device.type == "cuda" and torch.utils.data.get_worker_info() is not None:
            raise ValueError(f"CellDataset(device={self.device}) cannot be read in DataLoader workers; use "
                             "num_workers=0 or device=None")
        if len(pos) and (int(pos.min()) < -len(self) or int(pos.max()) >= len(self)):
            raise IndexError(f"index {item} out of range for a split of {len(self)} samples")
        pos = torch.where(pos < 0, pos + len(self), pos)
        if self.device is not None:
            pos = pos.to(self.device)
        batch = {k: torch.index_select(v, 0, pos) for k, v in self._tables.items()}
        if self.cached:  # index_select: ~25x faster than advanced indexing for uint8 cells
            batch["vox"] = torch.index_select(self._cells, 0, self._row[pos])
        else:
            batch["vox"] = self._read_cells(self._row[pos].cpu().numpy())
        return {k: v[0] for k, v in batch.items()} if single else batch


def collate(samples):
    """Collate function for ``CellDataset`` items: a list of per-sample dicts is stacked
    (``torch.utils.data.default_collate``); an already batched dict (``ds[list]``) passes."""
    if isinstance(samples, dict):
        return samples
    return torch.utils.data.default_collate(samples)


def material_tensor(batch: dict, device=None, dtype=torch.float32) -> torch.Tensor:
    """The 36-channel material-voxel tensor ``[B, 36, n, n, n]`` of a batch, built on ``device``
    (default: where ``batch["vox"]`` is) with the shape-material transformation of each
    sample's parallelepiped applied: ``materials.material_voxel_tensor(vox, E, nu, soft_ratio,
    shape=shape)`` (docs/conventions.md: channel 6p + q = C_e[p, q], unit of E)."""
    from ..materials import material_voxel_tensor

    vox = batch["vox"]
    if device is not None:
        vox = vox.to(device, non_blocking=True)
    vox = vox.to(torch.float64 if dtype == torch.float64 else torch.float32)  # exact for uint8 and float16 cells
    return material_voxel_tensor(vox, batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"], dtype=dtype)


def to_device(batch: dict, device, *, dtype=torch.float32, material: bool = True, non_blocking: bool = True) -> dict:
    """Move a batch to ``device`` and build what the network needs there.

    Only the compact tensors travel (uint8 cells, small tables); on the device ``vox`` becomes
    ``dtype`` in [0, 1] (``[B, n, n, n]``) and, with ``material=True``, ``material``
    ``[B, 36, n, n, n]`` (``material_tensor``) is added. Returns a new dict."""
    out = {k: (v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
    out["vox"] = out["vox"].to(dtype)
    if material:
        out["material"] = material_tensor(out, dtype=dtype)
    return out


def make_loader(dataset: CellDataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                drop_last: bool = False, num_workers: int = 0, rank: int | None = None,
                world_size: int | None = None, pin_memory: bool = False, persistent_workers: bool | None = None):
    """A ``DataLoader`` yielding batched dicts (see ``CellDataset``) on the CPU.

    Each batch is one vectorised ``dataset[indices]`` call (a ``BatchSampler`` over a random,
    sequential or - with ``world_size`` > 1 - ``DistributedSampler`` index order). With
    ``rank``/``world_size`` each rank reads its own shard (``DistributedSampler`` with ``seed``;
    call ``set_epoch(loader, epoch)`` each epoch). ``num_workers`` > 0 reads in worker
    processes, each opening the file itself."""
    from torch.utils.data import BatchSampler, DataLoader, DistributedSampler, RandomSampler, SequentialSampler

    batch_size = positive_int(batch_size, "batch_size")
    if (rank is None) != (world_size is None):
        raise ValueError(f"give both rank and world_size or neither, got rank={rank}, world_size={world_size}")
    if world_size is not None:
        if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        base = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed,
                                  drop_last=drop_last)
    elif shuffle:
        base = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
    else:
        base = SequentialSampler(dataset)
    sampler = BatchSampler(base, batch_size=batch_size, drop_last=drop_last)
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    return DataLoader(dataset, batch_size=None, sampler=sampler, collate_fn=collate, num_workers=num_workers,
                      pin_memory=pin_memory, persistent_workers=persistent_workers)


def set_epoch(loader, epoch: int) -> None:
    """Tell a ``make_loader`` loader's ``DistributedSampler`` the epoch (new shuffle per epoch)."""
    base = getattr(loader.sampler, "sampler", None)
    if hasattr(base, "set_epoch"):
        base.set_epoch(epoch)


__all__ = [
    "CellDataset",
    "collate",
    "make_loader",
    "material_tensor",
    "set_epoch",
    "to_device",
]

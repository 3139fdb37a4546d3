"""Label-free cell datasets in HDF5: builders (Dataset 1, Dataset 2, custom YAML specs), optional
C^H labelling, integrity checks, and a torch ``Dataset`` / loader for PH-Net training.

Submodules, each one concept; imports point down (``spec`` <- ``plan`` <- ``h5`` <- ``build``,
``label``, ``info``; ``loader`` uses ``h5`` and ``spec``):

* ``spec``: the spec schema (keys, defaults, validation, ``load_spec``, ``apply_scale``, the
  built-in ``DATASET1`` / ``DATASET2``); its docstring describes the spec format and the splits.
* ``plan``: geometry access (the only calls into ``geometry``), the ``Plan`` of geometry slots
  and sample tables, shape sampling, vf-grid fitting and the train/test split.
* ``h5``: the HDF5 file format (layout in its docstring), opening, fast row reads, checksums,
  ``verify_file`` and the dataset errors.
* ``build``: ``build_dataset``, resumable chunk by chunk.
* ``label``: ``label_dataset``, numerical C^H labels written resumably.
* ``info``: ``dataset_info``, the summary behind ``phnet dataset info``.
* ``loader``: ``CellDataset``, ``collate``, ``make_loader``, ``set_epoch``, ``to_device`` and
  ``material_tensor`` (the torch side).

Every public name is re-exported here, so ``phnet_cuda.data.<name>`` works as before the split.
Only torch and numpy are imported with the package; h5py, tqdm and yaml are imported when used.
"""

from __future__ import annotations

from ..geometry import FAMILIES
from .build import build_dataset
from .h5 import (
    FORMAT,
    FORMAT_VERSION,
    IMMUTABLE_GROUPS,
    LABEL_DATASETS,
    DatasetCorruptError,
    DatasetError,
    dataset_checksum,
    open_file,
    read_rows,
    verify_file,
)
from .info import dataset_info
from .label import label_dataset
from .loader import CellDataset, collate, make_loader, material_tensor, set_epoch, to_device
from .plan import GENERATOR, Plan, fit_vf_grid, make_split, plan_dataset, sample_shapes
from .spec import (
    BUILTIN_SPECS,
    DATASET1,
    DATASET2,
    SPLIT_BY,
    SPLITS,
    VOXEL_DTYPES,
    apply_scale,
    load_spec,
    normalize_spec,
)
from .synthetic import RandomTranslation, TGCells, held_out_batch, held_out_vfs, random_shape

__all__ = [
    "BUILTIN_SPECS",
    "CellDataset",
    "DATASET1",
    "DATASET2",
    "DatasetCorruptError",
    "DatasetError",
    "FAMILIES",
    "FORMAT",
    "FORMAT_VERSION",
    "GENERATOR",
    "IMMUTABLE_GROUPS",
    "LABEL_DATASETS",
    "Plan",
    "RandomTranslation",
    "SPLITS",
    "SPLIT_BY",
    "TGCells",
    "VOXEL_DTYPES",
    "apply_scale",
    "build_dataset",
    "collate",
    "dataset_checksum",
    "dataset_info",
    "fit_vf_grid",
    "held_out_batch",
    "held_out_vfs",
    "label_dataset",
    "load_spec",
    "make_loader",
    "make_split",
    "material_tensor",
    "normalize_spec",
    "open_file",
    "plan_dataset",
    "random_shape",
    "read_rows",
    "sample_shapes",
    "set_epoch",
    "to_device",
    "verify_file",
]

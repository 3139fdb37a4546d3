"""Moved to phnet_cuda.post.export; this path is kept for compatibility.

``phnet_cuda.export.<name>`` is ``phnet_cuda.post.export.<name>`` (C^H reports as JSON / CSV,
VTK meshes with fields, STL surfaces).
"""

from .post.export import (
    CSV_TENSOR_COLUMNS,
    csv_rows,
    signed_volume,
    solid_surface,
    tensor_report,
    voxel_grid,
    write_csv,
    write_json,
    write_stl,
    write_vtk,
)

__all__ = [
    "CSV_TENSOR_COLUMNS",
    "csv_rows",
    "signed_volume",
    "solid_surface",
    "tensor_report",
    "voxel_grid",
    "write_csv",
    "write_json",
    "write_stl",
    "write_vtk",
]

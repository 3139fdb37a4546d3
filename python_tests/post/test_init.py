"""The post package (phnet_cuda.post) and the import rule: its names are those of its submodules,
the old paths phnet_cuda.plots / phnet_cuda.export still work, and `import phnet_cuda` needs only
torch and numpy (matplotlib, scikit-image, meshio are imported where used)."""

from __future__ import annotations


def test_package_import_needs_only_torch_and_numpy():
    """`import phnet_cuda` must work where only torch and numpy are installed (the CUDA compile
    check of CI installs nothing else): heavy field libraries are imported where used (tqdm is
    left out of the check: torch itself imports it when it is installed)."""
    import subprocess
    import sys

    code = ("import sys, phnet_cuda; heavy = [m for m in ('scipy', 'h5py', 'matplotlib', 'skimage', "
            "'meshio', 'yaml', 'tensorboard') if m in sys.modules]; assert not heavy, heavy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


def test_reexports_and_compatibility_paths():
    """phnet_cuda.post re-exports every public function of ``tensor`` and ``fields`` (the same
    objects); phnet_cuda.plots and phnet_cuda.export give the names of post.plots and post.export."""
    import phnet_cuda
    from phnet_cuda import export as old_export
    from phnet_cuda import plots as old_plots
    from phnet_cuda import post
    from phnet_cuda.post import export, fields, plots, tensor

    for module in (tensor, fields):
        for name in module.__all__:
            assert name in post.__all__ and getattr(post, name) is getattr(module, name), name
    for old, new in ((old_plots, plots), (old_export, export)):
        assert sorted(old.__all__) == sorted(new.__all__)
        for name in new.__all__:
            assert getattr(old, name) is getattr(new, name), name
    assert phnet_cuda.engineering_constants is tensor.engineering_constants
    assert phnet_cuda.local_fields is fields.local_fields

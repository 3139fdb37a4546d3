"""Bad input at the public Python API, one representative case per class of a tester's 503-case
harness: every one is a clear ValueError/TypeError naming the argument (or a warning where the
input is legal but the answer is not trustworthy), never a crash, a deep TypeError or a silent
wrong number. The CLI's classes are in python_tests/cli/test_bad_input.py (in-process and in a
subprocess), the dataset files' in python_tests/data/test_robustness.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import phnet_cuda as pc
from phnet_cuda.geometry import tubular_gyroid
from phnet_cuda.testing import assert_rel_close

VOX = tubular_gyroid(8, 0.3)  # [8, 8, 8] float, a valid cell
U = torch.zeros(1, 6, 3, 8, 8, 8, dtype=torch.float64)


def _entry_points(vox):
    """Every public function that takes a voxel array, called with ``vox``."""
    return {
        "energy_loss": lambda: pc.energy_loss(U, vox),
        "homogenized_tensor": lambda: pc.homogenized_tensor(U, vox),
        "homogenize": lambda: pc.homogenize(vox),
        "material_voxel_tensor": lambda: pc.material_voxel_tensor(vox),
        "CellProblem.phases": lambda: pc.CellProblem(8).phases(vox),
        "predict": lambda: pc.predict(vox),
    }


@pytest.mark.parametrize("vox, found", [
    ((VOX * 255).to(torch.uint8), r"got range \[0, 255\] \(a 0/255 image\? divide it by 255\)"),
    ((VOX * 2).long(), r"got range \[0, 2\]"),
    (VOX - 0.5, r"got range \[-0.5, 0.5\]"),
    (torch.where(VOX > 0, torch.nan, 0.0), r"got range \[nan"),
    (torch.where(VOX > 0, torch.inf, 0.0), r"got range \[0, inf\]"),
], ids=["uint8-0-255", "int-labels", "negative", "nan", "inf"])
def test_voxels_outside_0_1_are_rejected_everywhere(vox, found):
    for name, call in _entry_points(vox).items():
        with pytest.raises(ValueError, match=r"vox values must lie in \[0, 1\].*" + found):
            call()
        assert name  # (which entry point failed is in the traceback)


def test_binary_integer_and_bool_cells_are_accepted():
    ref = pc.homogenize(VOX, tol=1e-10).CH
    for vox in (VOX.to(torch.uint8), VOX.bool(), VOX.long(), VOX.numpy().astype(np.int8)):
        torch.testing.assert_close(pc.homogenize(vox, tol=1e-10).CH, ref, rtol=1e-9, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"E": float("nan")}, "E must be finite"),
    ({"nu": float("inf")}, "nu must be finite"),
    ({"soft_ratio": float("nan")}, "soft_ratio must be finite"),
    ({"shape": (90, 90, float("nan"), 1, 1, 1)}, "all six values must be finite"),
    ({"E": torch.tensor([1.0, float("inf")])}, "E must be finite"),
])
def test_non_finite_parameters_are_rejected(kwargs, match):
    vox = torch.stack([VOX, VOX]) if any(isinstance(v, torch.Tensor) for v in kwargs.values()) else VOX
    with pytest.raises(ValueError, match=match):
        pc.homogenize(vox, **kwargs)
    with pytest.raises(ValueError, match=match):
        pc.material_voxel_tensor(vox, **{k: v for k, v in kwargs.items() if k != "shape"},
                                 shape=kwargs.get("shape"))


def test_non_finite_macro_strain_is_rejected():
    prob = pc.CellProblem(8, dtype=torch.float64)
    with pytest.raises(ValueError, match="macro_strain must be finite"):
        prob.element_fields(U, VOX, macro_strain=[1, 0, 0, 0, 0, float("nan")])


@pytest.mark.parametrize("E", [1e-300, 1e-200, 1e200, 1e300])
def test_extreme_youngs_modulus_scales_exactly(E):
    # C^H is linear in E: the solver works in units of E, so neither underflow nor overflow.
    ref = pc.homogenize(VOX, E=1.0, tol=1e-10)
    res = pc.homogenize(VOX, E=E, tol=1e-10)
    assert res.converged and res.iterations == ref.iterations
    # relative to the largest entry: at E = 1e-300 the near-zero entries (1e-24 E) are subnormal
    assert_rel_close(res.CH / E, ref.CH, 1e-12)


def test_per_sample_youngs_modulus_scales_each_cell():
    vox = torch.stack([VOX, tubular_gyroid(8, 0.2)])
    one = pc.homogenize(vox, tol=1e-10).CH
    both = pc.homogenize(vox, E=torch.tensor([1e-100, 3e100], dtype=torch.float64), tol=1e-10).CH
    assert_rel_close(both[0] / 1e-100, one[0], 1e-12)
    assert_rel_close(both[1] / 3e100, one[1], 1e-12)


@pytest.mark.parametrize("device, match", [
    ("meta", r"device='meta': unknown or unsupported device; expected cpu"),
    ("mps", r"device='mps': unknown or unsupported device"),
    ("tpu", r"device='tpu': unknown or unsupported device"),
    ("cuda:7", r"device='cuda:7'"),
    (3.5, "device must be a device name"),
])
def test_device_strings(device, match):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has eight GPUs")
    for call in (lambda: pc.homogenize(VOX, device=device), lambda: pc.predict(VOX, device=device),
                 lambda: pc.CellProblem(8, device=device)):
        with pytest.raises((ValueError, TypeError), match=match):
            call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_says_so():
    with pytest.raises(ValueError, match=r"device='cuda' requested but .*; use device='cpu'"):
        pc.homogenize(VOX, device="cuda")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"tol": "abc"}, ValueError, "tol must be a positive number, got 'abc'"),
    ({"tol": 0}, ValueError, "tol must be a positive finite number, got 0"),
    ({"E": "abc"}, TypeError, "E must be a number or a per-sample vector"),
    ({"E": "2.0"}, TypeError, "E must be a number or a per-sample vector"),
    ({"nu": "0.3"}, TypeError, "nu must be a number or a per-sample vector"),
    ({"soft_ratio": True}, TypeError, "soft_ratio must be a number or a per-sample vector"),
    ({"max_iter": "5"}, ValueError, "max_iter must be a positive int, got '5'"),
    ({"semi_coarsening": "2"}, TypeError, "semi_coarsening must be a number"),
])
def test_string_and_bool_parameters_are_rejected_at_the_entry(kwargs, error, match):
    with pytest.raises(error, match=match):
        pc.homogenize(VOX, **kwargs)


def test_numpy_scalars_arrays_and_negative_strides_are_accepted():
    ref = pc.homogenize(VOX, E=2.0, nu=0.3, tol=1e-10).CH
    res = pc.homogenize(VOX.numpy(), E=np.float32(2.0), nu=np.float64(0.3), tol=np.float64(1e-10),
                        max_iter=np.int64(200)).CH
    torch.testing.assert_close(res, ref, rtol=1e-9, atol=0)
    flipped = np.flip(VOX.numpy(), axis=0)  # negative stride
    torch.testing.assert_close(pc.homogenize(flipped, E=2.0, tol=1e-10).CH,
                               pc.homogenize(np.ascontiguousarray(flipped), E=2.0, tol=1e-10).CH)
    both = np.stack([VOX.numpy(), VOX.numpy()])
    per_sample = pc.homogenize(both, E=np.array([2.0, 4.0]), tol=1e-10).CH  # per-sample numpy parameters
    torch.testing.assert_close(per_sample[1], 2 * per_sample[0], rtol=1e-10, atol=0)
    assert pc.CellProblem(np.int64(8)).n == 8
    assert pc.material_voxel_tensor(flipped, E=np.float32(1.0)).shape == (1, 36, 8, 8, 8)


def test_wrong_n_warm_start_names_x0():
    with pytest.raises(ValueError, match=r"x0 must be \[B, 6, 3, 8, 8, 8\].*got shape \(1, 6, 3, 4, 4, 4\)"):
        pc.homogenize(VOX, x0=torch.zeros(1, 6, 3, 4, 4, 4, dtype=torch.float64))


@pytest.mark.parametrize("shape, match", [
    ((1e-9, 90, 90, 1, 1, 1), "alpha_xy = 1e-09 degrees makes the cell degenerate"),
    ((90, 179.9999999999, 90, 1, 1, 1), "alpha_yz = 180 degrees makes the cell degenerate"),
    ((90, 90, 90, 1, 0, 1), r"lengths \(l_x, l_y, l_z\) must be positive"),
])
def test_degenerate_shapes_name_the_parameter(shape, match):
    with pytest.raises(ValueError, match=match):
        pc.homogenize(VOX, shape=shape)


def test_singular_lattice_matrix_says_why():
    with pytest.raises(ValueError, match="lattice vectors .* linearly dependent"):
        pc.shapes.strain_map(torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))


def test_meta_voxels_are_rejected_not_read():
    with pytest.raises(ValueError, match="meta tensor"):
        pc.homogenize(torch.empty(8, 8, 8, device="meta"))


def test_library_cells_take_numpy_scalars_and_say_the_smallest_n():
    from phnet_cuda import geometry

    torch.testing.assert_close(geometry.make_cell("octet", np.int64(16), np.float32(0.3)),
                               geometry.make_cell("octet", 16, float(np.float32(0.3))))
    with pytest.raises(ValueError, match=r"cannot be drawn at n = 4: .*the smallest n that works is (\d+)") as err:
        geometry.make_cell("octet", 4, 0.3)
    smallest = int(err.value.args[0].rsplit(" ", 1)[-1])
    geometry.reachable_range("octet", smallest)  # it really works there ...
    with pytest.raises(ValueError, match="cannot be drawn"):
        geometry.reachable_range("octet", smallest - 1)  # ... and not one below

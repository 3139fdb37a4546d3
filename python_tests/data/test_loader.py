"""The torch side (phnet_cuda.data.loader): CellDataset items and batches, loaders with workers,
DistributedSampler shards and the on-the-fly material tensor."""

from __future__ import annotations

import pytest
import torch
from data.helpers import N1, N
from support import assert_rel_close

from phnet_cuda import data, materials, shapes


def test_loader_shapes_dtypes_and_determinism(d1_file):
    ds = data.CellDataset(d1_file, "train")
    assert len(ds) == data.dataset_info(d1_file)["split"]["train"]["samples"] and ds.cached
    item = ds[5]
    assert item["vox"].shape == (N1, N1, N1) and item["vox"].dtype == torch.uint8
    assert item["shape"].shape == (6,) and item["shape"].dtype == torch.float64
    assert item["CH"].shape == (6, 6) and torch.isnan(item["CH"]).all() and not bool(item["labelled"])
    for key in ("E", "nu", "soft_ratio", "volume_fraction"):
        assert item[key].shape == () and item[key].dtype == torch.float64
    batch = ds[[5, 0, 17]]
    stacked = data.collate([ds[5], ds[0], ds[17]])
    assert sorted(batch) == sorted(stacked)
    for k in batch:
        assert torch.equal(batch[k], stacked[k]) or torch.isnan(batch[k]).all(), k
    assert int(ds[-1]["index"]) == int(ds.indices[-1])
    with pytest.raises(IndexError):
        ds[len(ds)]

    def run(loader):
        return [(b["index"].clone(), b["vox"].clone()) for b in loader]

    a = run(data.make_loader(ds, 16, shuffle=True, seed=3))
    b = run(data.make_loader(ds, 16, shuffle=True, seed=3))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b))
    assert sorted(torch.cat([x[0] for x in a]).tolist()) == sorted(ds.indices.tolist())
    assert a[0][1].shape == (16, N1, N1, N1) and a[0][1].dtype == torch.uint8
    # uncached reads in two worker processes (each opens the file itself) give the same batches
    lazy = data.CellDataset(d1_file, "train", cache=False, verify=False)
    assert not lazy.cached and lazy._file is None
    c = run(data.make_loader(lazy, 16, shuffle=True, seed=3, num_workers=2))
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, c))
    assert lazy._file is None  # the parent never opened it


def test_material_tensor_on_the_fly(tiny_file):
    ds = data.CellDataset(tiny_file, "train")
    batch = next(iter(data.make_loader(ds, 4, shuffle=False)))
    assert batch["vox"].dtype == torch.uint8  # only compact cells travel
    out = data.to_device(batch, "cpu")
    vox = batch["vox"].float()
    ref = materials.material_voxel_tensor(vox, batch["E"], batch["nu"], batch["soft_ratio"], shape=batch["shape"])
    assert out["material"].shape == (4, 36, N, N, N) and out["material"].dtype == torch.float32
    assert torch.equal(out["material"], ref)
    assert out["vox"].dtype == torch.float32 and torch.equal(out["vox"], vox)
    # independent check at a solid voxel: M^T C_hat M = C(E, nu) from the Lame constants
    b = 1
    i, j, k = (int(t[0]) for t in torch.nonzero(vox[b] == 1, as_tuple=True))
    C_hat = data.material_tensor(batch, dtype=torch.float64)[b, :, i, j, k].reshape(6, 6)
    E, nu = float(batch["E"][b]), float(batch["nu"][b])
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    C = torch.zeros(6, 6, dtype=torch.float64)
    C[:3, :3] = lam
    C[range(3), range(3)] = lam + 2 * mu
    C[range(3, 6), range(3, 6)] = mu
    M = shapes.strain_map(shapes.unit_volume(shapes.lattice_matrix(batch["shape"][b])))
    assert_rel_close(M.T @ C_hat @ M, C, 1e-12)


def test_distributed_sampler_shards(tiny_file):
    ds = data.CellDataset(tiny_file, "all", verify=False)
    assert len(ds) == 12
    for epoch in (0, 1):
        shards = []
        for rank in (0, 1):
            loader = data.make_loader(ds, 5, shuffle=True, seed=11, rank=rank, world_size=2)
            data.set_epoch(loader, epoch)
            shards.append(torch.cat([b["index"] for b in loader]).tolist())
        assert len(shards[0]) == len(shards[1]) == 6
        assert not set(shards[0]) & set(shards[1])  # disjoint
        assert sorted(shards[0] + shards[1]) == list(range(12))  # covering
        if epoch == 0:
            first = shards
    assert first != shards  # set_epoch reshuffles
    # an odd split: DistributedSampler pads with one repeated sample so both ranks step together
    train = data.CellDataset(tiny_file, "train", verify=False)
    parts = [torch.cat([b["index"] for b in data.make_loader(train, 4, rank=r, world_size=2)]).tolist()
             for r in (0, 1)]
    assert len(train) == 9 and len(parts[0]) == len(parts[1]) == 5
    assert set(parts[0]) | set(parts[1]) == set(train.indices.tolist()) and len(set(parts[0]) & set(parts[1])) == 1
    with pytest.raises(ValueError, match="rank"):
        data.make_loader(ds, 5, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        data.make_loader(ds, 0)

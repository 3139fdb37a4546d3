"""Label-free training: the normalised loss, data, checkpoints, exact resume, torchrun/gloo."""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from phnet_cuda import homogenize
from phnet_cuda.problem import CellProblem
from phnet_cuda.surrogate.train import (
    TrainConfig,
    Trainer,
    atomic_save,
    evaluate,
    load_checkpoint,
    main,
    model_from_checkpoint,
    normalised_energy,
)

TINY_MODEL = {"widths": [4, 8], "head": 4, "norm": "batch"}


def _cfg(out, **kw):
    d = dict(out=str(out), n=8, model=dict(TINY_MODEL), epochs=2, epoch_size=8, batch_size=2, eval_size=2,
             eval_tol=1e-6, progress=False, device="cpu", seed=3, lr=1e-3)
    d.update(kw)
    return TrainConfig.from_dict(d)


def test_loss_is_log_of_energy_bound():
    """normalised_energy = sum_i log(C^H_ii(u) / C_vol_ii), C^H_ii(u) from the energy form
    (cube tensor for a parallelepiped), for an arbitrary u; the minimiser is the FE solution."""
    g = torch.Generator().manual_seed(0)
    vox = (torch.rand(2, 6, 6, 6, generator=g) > 0.5).double()
    shape = torch.tensor([[80.0, 85.0, 78.0, 1.0, 1.4, 0.9], [90.0, 90.0, 90.0, 1.0, 1.0, 1.0]])
    prob = CellProblem(6, E=torch.tensor([2.0, 7.0]), nu=0.3, soft_ratio=1e-3, shape=shape, dtype=torch.float64)
    u = 0.05 * torch.randn(2, 6, 3, 6, 6, 6, generator=g, dtype=torch.float64)
    loss = normalised_energy(u, vox, prob)
    CH_Q = prob.homogenized_tensor(u, vox)
    Minv = torch.linalg.inv(prob.M)
    CH_cube = Minv.transpose(1, 2) @ CH_Q @ Minv  # undo the recovery M^T C_hat^H M
    frac = vox.mean(dim=(1, 2, 3))
    C_vol = frac[:, None, None] * prob.C_hat[:, 0] + (1 - frac)[:, None, None] * prob.C_hat[:, 1]
    expect = torch.log(torch.diagonal(CH_cube, dim1=1, dim2=2) / torch.diagonal(C_vol, dim1=1, dim2=2)).sum(1)
    assert torch.allclose(loss, expect, rtol=1e-10, atol=1e-12)
    # scale-free: multiplying E multiplies every energy, the loss does not move
    prob10 = CellProblem(6, E=torch.tensor([20.0, 70.0]), nu=0.3, soft_ratio=1e-3, shape=shape, dtype=torch.float64)
    assert torch.allclose(normalised_energy(u, vox, prob10), loss, rtol=1e-12)
    # the FE solution is the minimiser: zero gradient there, and a lower loss than any perturbation
    res = homogenize(vox, E=torch.tensor([2.0, 7.0]), nu=0.3, soft_ratio=1e-3, shape=shape, tol=1e-12)
    us = res.u.clone().requires_grad_(True)
    best = normalised_energy(us, vox, prob)
    (grad,) = torch.autograd.grad(best.sum(), us)
    assert grad.abs().max() < 1e-8
    assert (normalised_energy(res.u + 1e-3 * u, vox, prob) > best.detach()).all()
    # and at the solution the loss gives C^H_ii exactly
    CH_true_cube = Minv.transpose(1, 2) @ res.CH @ Minv
    assert torch.allclose(best.detach(), torch.log(torch.diagonal(CH_true_cube, dim1=1, dim2=2)
                                                   / torch.diagonal(C_vol, dim1=1, dim2=2)).sum(1), rtol=1e-9)
    lin = normalised_energy(u, vox, prob, form="linear")
    assert torch.allclose(lin, (torch.diagonal(CH_cube, dim1=1, dim2=2) / torch.diagonal(C_vol, dim1=1, dim2=2)
                                - 1).sum(1))


def test_training_reduces_the_loss_and_resumes_exactly(tmp_path):
    """4 steps in one go == 2 steps, stop, resume, 2 more steps (bit-identical weights, with the
    random-translation augmentation on), and the training loss went down."""
    straight = Trainer(_cfg(tmp_path / "a", random_translation=True))
    straight.run()
    Trainer(_cfg(tmp_path / "b", max_steps=3, random_translation=True)).run()
    assert os.path.exists(tmp_path / "b" / "last.pt")
    ck = load_checkpoint(str(tmp_path / "b" / "last.pt"))
    assert (ck["epoch"], ck["step_in_epoch"]) == (0, 3)  # stopped in the middle of epoch 1
    resumed = Trainer(_cfg(tmp_path / "b", random_translation=True))
    summary = resumed.run()
    assert summary["stopped"] == "done"
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for name in ("best.pt", "log.csv", "config.yaml", "curves.png", "eval_set.pt"):
        assert os.path.exists(tmp_path / "a" / name), name
    with open(tmp_path / "a" / "log.csv") as fh:
        assert fh.read().count("\n") == 3  # header + one row per epoch
    # training lowered the loss
    hist = ck_hist = load_checkpoint(str(tmp_path / "a" / "last.pt"))["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert {"delta_mean", "delta_median", "delta_max", "samples_per_s", "energy_share"} <= set(ck_hist[-1])


def test_training_generalises_to_held_out_cells(tmp_path):
    """12 steps of a tiny group-norm model: on the held-out cells (unseen volume fractions and
    shapes) the loss drops below that of the zero field (u = 0 gives 0) and below the untrained
    model's, and delta falls. (Batch norm is left out here: after a few steps its running
    statistics, used in evaluation, are still far from the batch statistics of training.)"""
    tr = Trainer(_cfg(tmp_path, model={"widths": [4, 8], "head": 4, "norm": "group"}, epochs=3, epoch_size=16,
                      batch_size=4, eval_size=4, lr=3e-3, schedule="none"))
    untrained = copy.deepcopy(tr.model)
    tr.run()
    batch, CH_ref = tr._eval_set()
    before = evaluate(untrained, batch, CH_ref, torch.device("cpu"))
    after = evaluate(tr.model, batch, CH_ref, torch.device("cpu"))
    assert after["eval_loss"] < min(0.0, before["eval_loss"])
    assert after["delta_mean"] < 0.8 * before["delta_mean"]


def test_log_with_sparse_evaluation(tmp_path):
    """eval_every > 1: epochs without an evaluation still get a log row (empty delta columns)."""
    import csv

    Trainer(_cfg(tmp_path / "e", epochs=3, eval_every=2, epoch_size=4)).run()
    with open(tmp_path / "e" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0]["delta_mean"] == "" and float(rows[1]["delta_mean"]) > 0 and float(rows[2]["delta_mean"]) > 0


def test_resume_after_a_kill_between_log_and_checkpoint_logs_each_epoch_once(tmp_path, monkeypatch):
    """Killed after epoch 2's log row but before its checkpoint (and in the middle of writing a
    further row): the resumed run rewrites log.csv from the checkpoint's history, so epochs
    1..3 appear exactly once, with the values of the run that produced the checkpoints."""
    import csv

    out = tmp_path / "k"
    real_save, saves = Trainer.save, []

    def killed_on_second_save(self, best=False):
        saves.append(self.epoch)
        if len(saves) == 2:
            raise KeyboardInterrupt  # epoch 2 is logged, its checkpoint never written
        real_save(self, best=best)

    monkeypatch.setattr(Trainer, "save", killed_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        Trainer(_cfg(out, epochs=3, epoch_size=4, eval_every=3)).run()
    monkeypatch.setattr(Trainer, "save", real_save)
    log = out / "log.csv"
    with open(log, "a") as fh:
        fh.write("3,6,0.00")  # a row cut short by the kill
    with open(log) as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2", "3"]  # the state a kill leaves
    assert load_checkpoint(str(out / "last.pt"))["epoch"] == 1
    Trainer(_cfg(out, epochs=3, epoch_size=4, eval_every=3)).run()
    with open(log) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    hist = load_checkpoint(str(out / "last.pt"))["history"]
    assert [r["step"] for r in rows] == [str(h["step"]) for h in hist] == ["2", "4", "6"]
    assert [r["train_loss"] for r in rows] == [str(h["train_loss"]) for h in hist]
    assert not (out / "log.csv.tmp").exists()


def test_checkpoint_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot be loaded safely"):
        load_checkpoint(str(bad))
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.pt"))
    atomic_save({"something": torch.zeros(1)}, str(tmp_path / "other.pt"))
    with pytest.raises(ValueError, match="not a PH-Net checkpoint"):
        load_checkpoint(str(tmp_path / "other.pt"))
    t = Trainer(_cfg(tmp_path / "run"))
    st = t.state()
    st["model_config"] = dict(st["model_config"], widths=[4, 16])
    atomic_save(st, str(tmp_path / "mismatch.pt"))
    with pytest.raises(ValueError, match="do not match"):
        model_from_checkpoint(str(tmp_path / "mismatch.pt"))
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]  # atomic writes leave no temp files


def test_resume_with_another_model_is_refused(tmp_path):
    Trainer(_cfg(tmp_path / "r", max_steps=1)).run()
    with pytest.raises(ValueError, match="use another --out"):
        Trainer(_cfg(tmp_path / "r", model={"widths": [4, 8], "head": 8})).run()


def test_init_widen_starts_a_wider_run_from_the_narrow_model(tmp_path):
    """--init of a narrower checkpoint is refused unless init_widen; with it, the wider run's
    starting model predicts what the narrow one predicts on the held-out cells."""
    narrow = Trainer(_cfg(tmp_path / "narrow", max_steps=2))
    narrow.run()
    wide_model = {"widths": [6, 12], "head": 5, "norm": "batch"}
    init = str(tmp_path / "narrow" / "last.pt")
    with pytest.raises(ValueError, match="init_widen"):
        Trainer(_cfg(tmp_path / "w1", model=wide_model, init=init)).load_init()
    with pytest.raises(ValueError, match="init_widen needs init"):
        _cfg(tmp_path / "w1", init_widen=True)
    wide = Trainer(_cfg(tmp_path / "w2", model=wide_model, init=init, init_widen=True))
    wide.load_init()
    batch, CH_ref = wide._eval_set()
    a = evaluate(model_from_checkpoint(init), batch, CH_ref, torch.device("cpu"))
    b = evaluate(wide.model, batch, CH_ref, torch.device("cpu"))
    assert a["delta_mean"] == pytest.approx(b["delta_mean"], rel=1e-5)
    assert a["eval_loss"] == pytest.approx(b["eval_loss"], abs=1e-6)  # float32 sums in another order
    summary = wide.run()  # and it trains from there
    assert summary["stopped"] == "done"


def test_training_through_the_physics_output_stage(tmp_path):
    """A model with cg_steps trains through the stage: the loss falls, the log has the stage's
    time share and the network's own delta, evaluation applies the stage (its held-out loss is
    below the network-alone loss of the same weights), and such a run may --init from a
    checkpoint without the stage (same weights, the stage has none)."""
    import csv

    plain = Trainer(_cfg(tmp_path / "plain", max_steps=2))
    plain.run()
    model = dict(TINY_MODEL, cg_steps=3)
    tr = Trainer(_cfg(tmp_path / "cg", model=model, init=str(tmp_path / "plain" / "last.pt"), lr=3e-3))
    summary = tr.run()
    assert summary["stopped"] == "done"
    hist = load_checkpoint(str(tmp_path / "cg" / "last.pt"))["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    with open(tmp_path / "cg" / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert all(0 < float(r["stage_share"]) < 1 and float(r["delta_mean_network"]) > 0 for r in rows)
    batch, CH_ref = tr._eval_set()
    staged = evaluate(tr.model, batch, CH_ref, torch.device("cpu"))
    alone = copy.deepcopy(tr.model)
    alone.config = type(alone.config).from_dict({**alone.config.to_dict(), "cg_steps": 0})
    net = evaluate(alone, batch, CH_ref, torch.device("cpu"))
    assert staged["eval_loss"] < net["eval_loss"]
    assert staged["delta_mean_network"] == pytest.approx(net["delta_mean"], rel=1e-6)
    assert "delta_mean_network" not in net
    with pytest.raises(ValueError, match="cg_steps must be a non-negative int"):
        _cfg(tmp_path / "bad", model=dict(TINY_MODEL, cg_steps=-1))


def test_export_checkpoint(tmp_path):
    """The shipped-checkpoint writer: float16 weights that load into the same model (outputs to
    fp16 rounding), the run's configs and last metrics, an optional physics stage in the
    exported config (validated), no optimiser state."""
    from phnet_cuda.surrogate.train import export_checkpoint

    tr = Trainer(_cfg(tmp_path / "run", epochs=1, epoch_size=4))
    tr.run()
    src, dst = str(tmp_path / "run" / "best.pt"), str(tmp_path / "ship" / "model.pt")
    metrics = export_checkpoint(src, dst, cg_steps=3)
    ck = load_checkpoint(dst)
    assert all(v.dtype == torch.float16 for v in ck["model"].values() if v.is_floating_point())
    assert "optimizer" not in ck and ck["model_config"]["cg_steps"] == 3 and ck["train_config"]["n"] == 8
    assert metrics["epoch"] == 1 and metrics["delta_mean"] == pytest.approx(tr.history[-1]["delta_mean"])
    full, half = model_from_checkpoint(src), model_from_checkpoint(dst)
    assert half.config.cg_steps == 3 and full.config.cg_steps == 0
    x = torch.randn(2, 36, 8, 8, 8)
    with torch.no_grad():
        a, b = full(x), half(x)
    assert (a - b).abs().max() <= 2e-2 * a.abs().max()
    with pytest.raises(ValueError, match="cg_steps"):
        export_checkpoint(src, str(tmp_path / "bad.pt"), cg_steps=-1)


def test_torchrun_gloo_two_processes_match_one_process_with_double_batch(tmp_path):
    """DDP on CPU (gloo, 2 ranks, batch 2 each) ends with the same weights as 1 process with
    batch 4 (group norm: no batch statistics, so the two computations are the same sum)."""
    common = ["--resolution", "8", "--widths", "4,8", "--head", "4", "--norm", "group", "--epochs", "1",
              "--epoch-size", "8", "--eval-size", "2", "--seed", "5", "--device", "cpu", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run2 = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_port=29533", "-m", "phnet_cuda.train", "--out", str(tmp_path / "ddp"),
                           "--batch-size", "2", *common], env=env, capture_output=True, text=True, timeout=240)
    assert run2.returncode == 0, run2.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same summation order per rank as the OMP_NUM_THREADS=1 ranks
    try:
        assert main(["--out", str(tmp_path / "single"), "--batch-size", "4", *common]) == 0
    finally:
        torch.set_num_threads(threads)
    a = load_checkpoint(str(tmp_path / "ddp" / "last.pt"))["model"]
    b = load_checkpoint(str(tmp_path / "single" / "last.pt"))["model"]
    # The all-reduce sums the two half-batch gradients in another order than one batch of 4:
    # float32 rounding (~1e-7 relative). Adam divides each gradient by its running RMS, so for a
    # parameter whose gradient is nearly zero that rounding moves the step by up to a few % of
    # lr (5e-4; 2.2% = 1.1e-5 seen with the Walsh-basis kernels); atol 2.5e-5 (5% of lr) allows
    # that and still catches a wrong gradient (one rank's half missing, or samples dealt twice,
    # changes the direction and moves the weights by ~lr, 20x more).
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=2.5e-5), (k, float((a[k] - b[k]).abs().max()))


def test_training_from_an_hdf5_dataset_with_workers(tmp_path):
    """`data` = a file of phnet_cuda.data: train split for training (read in a DataLoader worker),
    the labelled test split for evaluation."""
    from phnet_cuda.data import build_dataset, label_dataset

    path = str(tmp_path / "d1.h5")
    build_dataset("dataset1", path, n=8, scale=0.001, progress=False)
    label_dataset(path, split="test", limit=4, progress=False, tol=1e-8)
    cfg = _cfg(tmp_path / "run", data=path, eval_size=4, workers=1, epochs=1, random_translation=True)
    summary = Trainer(cfg).run()
    assert summary["stopped"] == "done"
    hist = load_checkpoint(str(tmp_path / "run" / "last.pt"))["history"]
    assert len(hist) == 1 and np.isfinite(hist[0]["delta_mean"])

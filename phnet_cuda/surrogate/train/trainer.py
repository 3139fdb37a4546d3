"""The training loop: one run (single process or one rank of a torchrun job) with atomic
checkpoints, exact resume (model, optimiser, scheduler, position in the epoch, RNG states), the
log, TensorBoard events and the curves PNG."""

from __future__ import annotations

import csv
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from ...data.loader import CellDataset, collate
from ...data.synthetic import RandomTranslation, TGCells, held_out_batch, held_out_vfs
from ..checkpoint import atomic_save, load_checkpoint, model_from_checkpoint, weights_config
from ..model import PHNet, PHNetConfig, count_parameters, widen_model
from ..stage import batch_problem, network_field, physics_stage
from .config import TrainConfig, vf_grid
from .evaluate import evaluate, label_cells
from .loss import normalised_energy

#: Columns of a run's log.csv (one row per epoch; the delta and eval_loss columns only on evaluated
#: epochs; the last two only for a model with the physics output stage, ``cg_steps > 0``: the
#: step-time share of that stage, forward and backward, and the delta of the network's own field).
LOG_FIELDS = ["epoch", "step", "lr", "train_loss", "samples_per_s", "energy_share", "seconds",
              "delta_mean", "delta_median", "delta_max", "eval_loss", "stage_share", "delta_mean_network"]


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
          "python_version": random.getstate()[0]}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    random.setstate((st["python_version"], tuple(st["python"]), None))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {cfg.device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


class Trainer:
    """One training run (single process or one rank of a torchrun job). ``run()`` trains to
    ``cfg.epochs``, resuming from ``<out>/last.pt`` when it exists."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.world, self.rank, local_rank = _dist_info()
        self.distributed = self.world > 1
        self.device = _device(cfg, local_rank)
        if self.distributed and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.main = self.rank == 0
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.model_cfg = PHNetConfig.from_dict(cfg.model)
        self.model = PHNet(self.model_cfg).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.net = self.model
        if self.distributed:
            self.net = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.steps_per_epoch = max(1, cfg.epoch_size // (cfg.batch_size * self.world))
        if cfg.schedule == "cosine":
            self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
                self.opt, T_max=cfg.epochs * self.steps_per_epoch, eta_min=cfg.lr * cfg.min_lr_ratio)
        elif cfg.schedule == "plateau":
            self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.5, patience=3,
                                                                    min_lr=cfg.lr * cfg.min_lr_ratio)
        else:
            self.sched = None
        self.amp = cfg.amp and self.device.type == "cuda"
        self.data = self._make_data()
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.best = math.inf
        self.history: list[dict] = []
        os.makedirs(cfg.out, exist_ok=True)
        self.last_path = os.path.join(cfg.out, "last.pt")
        self.best_path = os.path.join(cfg.out, "best.pt")

    # -- data ------------------------------------------------------------------------------
    def _make_data(self):
        cfg = self.cfg
        if cfg.data == "tg":
            ds = TGCells(cfg.n, vf_grid(cfg), cfg.epoch_size, seed=cfg.seed, E=cfg.E, nu=cfg.nu,
                         soft_ratio=cfg.soft_ratio, angle_range=cfg.angle_range,
                         length_range=cfg.length_range, shapes=cfg.shapes, corner_mix=cfg.corner_mix)
        else:
            ds = CellDataset(cfg.data, split="train")
        return RandomTranslation(ds, seed=cfg.seed) if cfg.random_translation else ds

    def _epoch_order(self, epoch: int) -> list[int]:
        """This rank's sample order of an epoch: a permutation seeded by (seed, epoch), dealt
        round-robin to the ranks, so K ranks with batch b see exactly the samples of one process
        with batch K b."""
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.data), generator=g)
        usable = self.steps_per_epoch * self.cfg.batch_size * self.world
        return perm[:usable][self.rank::self.world].tolist()

    def _eval_set(self) -> tuple[dict, torch.Tensor]:
        cfg = self.cfg
        path = os.path.join(cfg.out, "eval_set.pt")
        if os.path.exists(path):
            st = torch.load(path, map_location="cpu", weights_only=True)
            return st["batch"], st["CH"]
        if cfg.data != "tg":
            ds = CellDataset(cfg.data, split="test")
            samples = []
            # eval_size LABELLED test samples spread over the whole split (a golden-ratio
            # stride, deterministic): the split is stored group by group, so its first samples
            # would all be of one family.
            spread = np.argsort((np.arange(len(ds)) * 0.6180339887498949) % 1.0, kind="stable")
            for i in spread.tolist():
                item = ds[i]
                if bool(item.get("labelled", True)) and not torch.isnan(item["CH"]).any():
                    samples.append(item)
                if len(samples) == cfg.eval_size:
                    break
            if not samples:
                raise ValueError(f"the test split of {cfg.data!r} has no labels; run 'phnet dataset label {cfg.data}'")
            batch = collate(samples)
            return {k: v for k, v in batch.items() if k != "CH"}, batch["CH"]
        batch = held_out_batch(cfg.n, held_out_vfs(vf_grid(cfg)), cfg.eval_size, seed=cfg.seed + 7919, epoch=10**6,
                               E=cfg.E, nu=cfg.nu, soft_ratio=cfg.soft_ratio, angle_range=cfg.angle_range,
                               length_range=cfg.length_range, shapes=cfg.shapes)
        CH = label_cells(batch, tol=cfg.eval_tol, progress=cfg.progress and self.main)
        if self.main:
            atomic_save({"batch": batch, "CH": CH}, path)
        return batch, CH

    # -- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict:
        """The checkpoint dict: model, optimiser and scheduler states, both configs, the position in the loop
        (epoch, step), the best eval delta, the history and the RNG states."""
        return {"model": self.model.state_dict(), "model_config": self.model_cfg.to_dict(),
                "train_config": self.cfg.to_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict() if self.sched is not None else {},
                "epoch": self.epoch, "step_in_epoch": self.step_in_epoch, "global_step": self.global_step,
                "best": self.best, "history": self.history, "rng": _rng_state(),
                "versions": {"torch": str(torch.__version__)}}

    def save(self, best: bool = False) -> None:
        """Write ``state()`` to ``last.pt`` (and to ``best.pt`` if ``best``); only the main rank writes."""
        if not self.main:
            return
        st = self.state()
        atomic_save(st, self.last_path)
        if best:
            atomic_save(st, self.best_path)

    def resume(self) -> bool:
        """Restore the run from its ``last.pt`` if there is one; returns whether it did. Raises a ValueError
        if that checkpoint was written for another model config."""
        if not os.path.exists(self.last_path):
            return False
        ck = load_checkpoint(self.last_path, map_location=self.device)
        if ck["model_config"] != self.model_cfg.to_dict():
            raise ValueError(f"{self.last_path} was written for model config {ck['model_config']}, "
                             f"but this run asks for {self.model_cfg.to_dict()}; use another --out")
        self.model.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        if self.sched is not None and ck["scheduler"]:
            self.sched.load_state_dict(ck["scheduler"])
        self.epoch, self.step_in_epoch = int(ck["epoch"]), int(ck["step_in_epoch"])
        self.global_step, self.best = int(ck["global_step"]), float(ck["best"])
        self.history = list(ck["history"])
        if self.main:
            # a run killed after logging an epoch but before saving it left rows the checkpoint does not have
            self._rewrite_log()
        _set_rng_state({k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in ck["rng"].items()})
        return True

    # -- logging ---------------------------------------------------------------------------
    def _rewrite_log(self) -> None:
        """Rewrite ``log.csv`` from the checkpoint's history (the truth: one row per finished epoch,
        epochs 1..epoch), atomically (temporary file, then rename): rows logged after the last save,
        or a row cut short by a kill, are dropped and re-logged when their epoch is run again."""
        path = os.path.join(self.cfg.out, "log.csv")
        if not self.history and not os.path.exists(path):
            return
        tmp = path + ".tmp"
        with open(tmp, "w", newline="") as fh:
            # extrasaction="ignore": a history written by another version may have other columns
            w = csv.DictWriter(fh, fieldnames=LOG_FIELDS, restval="", extrasaction="ignore")
            w.writeheader()
            w.writerows(self.history)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _log(self, row: dict) -> None:
        if not self.main:
            return
        self.history.append(row)
        path = os.path.join(self.cfg.out, "log.csv")
        new = not os.path.exists(path)
        with open(path, "a", newline="") as fh:
            # fixed columns: epochs without an evaluation (eval_every > 1) leave the delta ones empty
            w = csv.DictWriter(fh, fieldnames=LOG_FIELDS, restval="")
            if new:
                w.writeheader()
            w.writerow(row)
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k not in ("epoch", "step"):
                    self._tb.add_scalar(k, v, row["step"])
            self._tb.flush()
        plot_curves(self.history, os.path.join(self.cfg.out, "curves.png"))

    # -- the loop --------------------------------------------------------------------------
    def train_step(self, batch: dict) -> tuple[float, float, float]:
        """One optimiser step; returns (loss, seconds spent in the energy loss incl. backward,
        seconds spent in the physics output stage incl. backward)."""
        cfg, dev = self.cfg, self.device
        vox = batch["vox"].to(dev, non_blocking=True)
        u = network_field(self.net, vox, batch["E"], batch["nu"], batch["soft_ratio"], batch["shape"],
                          amp=self.amp, channels_last=cfg.channels_last)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        prob = batch_problem(batch, cfg.n, dev)  # set-up, not part of the energy_loss share
        sync()
        # Three chained backward passes (loss -> stage -> network) so that each part is timed alone.
        u_leaf = u.detach().requires_grad_(True)
        t_stage, u_stage, u_in = 0.0, None, u_leaf
        if self.model_cfg.cg_steps:
            t0 = time.perf_counter()
            u_stage = physics_stage(u_leaf, vox, prob, self.model_cfg.cg_steps)
            u_in = u_stage.detach().requires_grad_(True)
            sync()
            t_stage = time.perf_counter() - t0
        t0 = time.perf_counter()
        loss = normalised_energy(u_in, vox, prob, cfg.loss_form).mean()
        loss.backward()
        sync()
        t_energy = time.perf_counter() - t0
        if u_stage is not None:
            t0 = time.perf_counter()
            u_stage.backward(u_in.grad)
            sync()
            t_stage += time.perf_counter() - t0
        self.opt.zero_grad(set_to_none=True)
        u.backward(u_leaf.grad)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        if self.sched is not None and cfg.schedule == "cosine":
            self.sched.step()
        return float(loss.detach()), t_energy, t_stage

    def load_init(self) -> None:
        """Load the weights of ``cfg.init`` (a new run's starting point), widened if ``init_widen``."""
        cfg = self.cfg
        src = model_from_checkpoint(cfg.init)
        if cfg.init_widen:
            # Same function as the narrow model; the new channels start with zero influence.
            src = widen_model(src, self.model_cfg, seed=cfg.seed)
        elif weights_config(src.config) != weights_config(self.model_cfg):
            raise ValueError(f"init checkpoint {cfg.init!r} has model config {src.config.to_dict()}, "
                             f"this run asks for {self.model_cfg.to_dict()} (init_widen: true starts "
                             f"a wider model of the same depth from it)")
        self.model.load_state_dict(src.state_dict())

    def run(self) -> dict:
        """Train until ``epochs`` (or ``max_steps`` steps of this call), resuming from ``last.pt`` or starting
        from ``init``, with evaluation, log and checkpoints every epoch; returns a summary dict (``stopped``:
        ``"done"`` or ``"max_steps"``, the epoch reached, ...)."""
        cfg = self.cfg
        resumed = self.resume()
        if not resumed and cfg.init:
            self.load_init()
        self._tb = None
        if self.main:
            with open(os.path.join(cfg.out, "config.yaml"), "w") as fh:
                import yaml

                yaml.safe_dump({"train": cfg.to_dict(), "command": " ".join(sys.argv)}, fh, sort_keys=False)
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(os.path.join(cfg.out, "tb"))
            except ImportError:
                self._tb = None
        eval_batch, eval_CH = self._eval_set()
        if self.main:
            start = f"resumed at epoch {self.epoch} step {self.step_in_epoch}" if resumed else "new run"
            print(f"phnet train: {count_parameters(self.model):,} parameters, device {self.device}, "
                  f"world {self.world}, {start} -> {cfg.out}", flush=True)
        steps_done = 0
        self.model.train()
        while self.epoch < cfg.epochs:
            if hasattr(self.data, "set_epoch"):
                self.data.set_epoch(self.epoch)
            order = self._epoch_order(self.epoch)
            bs = cfg.batch_size
            t_epoch, t_energy, t_stage, n_samples, loss_sum, loss_n = time.perf_counter(), 0.0, 0.0, 0, 0.0, 0
            bar = None
            if cfg.progress and self.main:
                from tqdm import tqdm

                bar = tqdm(total=self.steps_per_epoch, initial=self.step_in_epoch,
                           desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="step", leave=False)
            batches = [order[s * bs:(s + 1) * bs] for s in range(self.step_in_epoch, self.steps_per_epoch)]
            loader = torch.utils.data.DataLoader(
                self.data, batch_sampler=batches, collate_fn=collate, num_workers=cfg.workers,
                pin_memory=self.device.type == "cuda", persistent_workers=False)
            for batch in loader:
                s = self.step_in_epoch
                loss, te, ts = self.train_step(batch)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at epoch {self.epoch} step {s}; "
                                             f"last good checkpoint: {self.last_path}")
                t_energy += te
                t_stage += ts
                n_samples += bs * self.world
                loss_sum, loss_n = loss_sum + loss, loss_n + 1
                self.step_in_epoch += 1
                self.global_step += 1
                steps_done += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}")
                if cfg.max_steps is not None and steps_done >= cfg.max_steps:
                    self.save()
                    if bar is not None:
                        bar.close()
                    return {"stopped": "max_steps", "epoch": self.epoch, "step_in_epoch": self.step_in_epoch}
            if bar is not None:
                bar.close()
            seconds = time.perf_counter() - t_epoch
            self.epoch += 1
            self.step_in_epoch = 0
            row = {"epoch": self.epoch, "step": self.global_step, "lr": self.opt.param_groups[0]["lr"],
                   "train_loss": loss_sum / max(loss_n, 1), "samples_per_s": n_samples / seconds,
                   "energy_share": t_energy / seconds, "seconds": seconds}
            if self.model_cfg.cg_steps:
                row["stage_share"] = t_stage / seconds
            if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
                ev = evaluate(self.model, eval_batch, eval_CH, self.device, amp=self.amp)
                row.update({k: v for k, v in ev.items() if k != "deltas"})
                if self.sched is not None and cfg.schedule == "plateau":
                    self.sched.step(ev["eval_loss"])
                improved = ev["delta_mean"] < self.best
                self.best = min(self.best, ev["delta_mean"])
            else:
                improved = False
            self._log(row)
            self.save(best=improved)
            if self.main:
                print("epoch {epoch}: loss {train_loss:.5f}".format(**row)
                      + (f", delta mean {row['delta_mean']:.4%} median {row['delta_median']:.4%} "
                         f"max {row['delta_max']:.4%}"
                         if "delta_mean" in row else "")
                      + (f" (network alone {row['delta_mean_network']:.4%})" if "delta_mean_network" in row else "")
                      + f", {row['samples_per_s']:.1f} samples/s, energy_loss {row['energy_share']:.1%} of step time"
                      + (f", cg stage {row['stage_share']:.1%}" if "stage_share" in row else ""),
                      flush=True)
        if self._tb is not None:
            self._tb.close()
        return {"stopped": "done", "epoch": self.epoch, "best_delta_mean": self.best}


def plot_curves(history: list[dict], path: str) -> None:
    """Training loss and eval delta versus epoch (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(ep, [h["train_loss"] for h in history], label="train")
    ev = [(h["epoch"], h["eval_loss"]) for h in history if "eval_loss" in h]
    if ev:
        ax[0].plot(*zip(*ev), label="held-out")
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("normalised energy loss")
    ax[0].legend()
    d = [(h["epoch"], h["delta_mean"], h["delta_median"], h["delta_max"]) for h in history if "delta_mean" in h]
    if d:
        e, mean, med, mx = zip(*d)
        ax[1].semilogy(e, mean, label="mean")
        ax[1].semilogy(e, med, label="median")
        ax[1].semilogy(e, mx, label="max")
        ax[1].axhline(0.01, color="k", lw=0.8, ls="--", label="1%")
        ax[1].set_xlabel("epoch")
        ax[1].set_ylabel("delta = ||C_pred - C_ref||_F / ||C_ref||_F")
        ax[1].legend()
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def train(cfg: TrainConfig | dict) -> dict:
    """Train (or resume) a PH-Net; see ``TrainConfig``. Returns a small summary dict."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    return Trainer(cfg).run()

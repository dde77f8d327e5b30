"""The training loop: one run folder per experiment, resumable exactly from its last checkpoint.

Run folder: config.yaml (resolved), history.csv (one row per epoch), last.pt (everything needed
to resume), best.pt (weights and metadata of the epoch with the best validation mean AUC), and
tensorboard/ when the tensorboard package is installed.

Under torchrun (WORLD_SIZE > 1) every rank trains on its shard of the films through
DistributedDataParallel; rank 0 validates on the whole validation set, shares the epoch's row
with the others (so early stopping decides the same everywhere) and alone writes the run folder.
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from classifier import checkpoint, distributed
from classifier.board import Board
from classifier.cache import CachedLoader, Draws, FilmCache
from classifier.config import TrainConfig, load_yaml, resolve
from classifier.datasets import FilmDataset, TaskData, read_manifest
from classifier.files import write_text_atomic
from classifier.losses import get_loss
from classifier.metrics import label_aucs, mean_auc
from classifier.nih import read_nih
from classifier.registry import create_model, get_spec
from classifier.runtime import Runtime
from classifier.transforms import AugmentSpec

CONFIG = "config.yaml"
HISTORY = "history.csv"
LAST = "last.pt"
BEST = "best.pt"


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a run folder in the way)."""


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    epochs_run: int
    best_epoch: int
    best_score: float  # validation mean AUC of best.pt
    stopped_early: bool


def load_task_data(cfg: TrainConfig) -> TaskData:
    if cfg.data is None:
        raise TrainingError("no data: give a manifest (train) or an NIH folder (pretrain)")
    if cfg.task == "chestx14":
        return read_nih(Path(cfg.data), seed=cfg.seed)
    return read_manifest(Path(cfg.data), aux_normal=cfg.aux_normal)


def build_model(cfg: TrainConfig, outputs: int, initialise: bool = True) -> nn.Module:
    """The network with its head sized for `outputs`, initialised as the regime says.

    `initialise=False` skips the pretrained weights, for a resume that overwrites them anyway.
    """
    weights = Path(cfg.weights) if cfg.weights else None
    imagenet = initialise and cfg.pretrain == "imagenet"
    model = create_model(cfg.arch, outputs, imagenet=imagenet, weights=weights)
    if initialise and cfg.pretrain == "chestx14":
        checkpoint.load_backbone(model, get_spec(cfg.arch), Path(cfg.init))
    return model


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _write_history(run_dir: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(run_dir / HISTORY, buffer.getvalue())


class _Loop:
    """State of one run between epochs; everything here goes into last.pt."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: Path,
        progress: bool,
        initialise: bool = True,
        group: distributed.Group | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.group = group or distributed.Group()
        self.main = self.group.main
        self.progress = progress and self.main
        self.spec = get_spec(cfg.arch)
        local_rank = self.group.local_rank if self.group.active else None
        self.runtime = Runtime.pick(cfg.device, cfg.channels_last, local_rank)
        self.device = self.runtime.device
        self.data = load_task_data(cfg)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, len(self.data.labels), initialise)
        # `net` is the network itself (state dicts, validation); `model` is what training calls.
        self.net = self.runtime.place(model)
        self.model: nn.Module = self.net
        if self.group.active:
            # Same initial weights on every rank (DDP broadcasts rank 0's anyway), but each
            # rank draws its own dropout masks.
            torch.manual_seed(cfg.seed + 7919 * self.group.rank)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.net, device_ids=ids)
        self.loss_fn = get_loss(cfg.loss)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, cfg.lr_decay)
        crop = cfg.crop_size
        augment = AugmentSpec() if cfg.augment else None
        self.train_set = FilmDataset(
            self.data.train, cfg.resize, crop, train=True, seed=cfg.seed, augment=augment
        )
        self.val_set = FilmDataset(self.data.val, cfg.resize, crop, train=False)
        self.caches: dict[bool, FilmCache] = {}  # by "is the training split"
        cache = cfg.film_cache if cfg.film_cache is not None else self.device.type == "cuda"
        if cache:
            self.caches[True] = FilmCache(self.train_set, self.device, cfg.workers)
            if self.main:  # only rank 0 validates
                self.caches[False] = FilmCache(self.val_set, self.device, cfg.workers)
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []
        self.board = Board(run_dir) if self.main else None

    def restore(self, state: dict[str, Any], model: dict[str, torch.Tensor]) -> None:
        self.net.load_state_dict(model)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = state["epoch"]
        self.best_score = state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.history = list(state["history"])
        ranks = state.get("rng_ranks", [])
        same_world = len(ranks) == self.group.world and self.group.active
        _set_rng_state(ranks[self.group.rank] if same_world else state["rng"])

    def _loader(self, dataset: FilmDataset, shuffle: bool) -> DataLoader | CachedLoader:
        # Order and worker seeds come from a generator seeded by the epoch, so a resumed run
        # draws the same batches as an uninterrupted one. With the film cache the loader
        # yields film indices and draws in that same order, and the cache makes the batches.
        generator = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.epoch)
        cache = self.caches.get(shuffle)
        source = Draws(dataset) if cache is not None else dataset
        sampler = None
        if shuffle and self.group.active:
            # Each rank gets its own shard of the epoch's permutation (seeded by seed, epoch).
            sampler = DistributedSampler(
                source, self.group.world, self.group.rank, seed=self.cfg.seed, drop_last=True
            )
            sampler.set_epoch(self.epoch)
        films = len(sampler) if sampler is not None else len(dataset)
        loader = DataLoader(
            source,
            batch_size=self.cfg.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            # A last batch of one film would break BatchNorm in training.
            drop_last=shuffle and films > self.cfg.batch_size,
            num_workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda" and cache is None,
            generator=generator,
        )
        return loader if cache is None else CachedLoader(loader, cache)

    def _forward(self, films: torch.Tensor) -> torch.Tensor:
        return self.runtime.forward(self.model, films, self.spec)

    def train_epoch(self) -> tuple[float, float]:
        self.model.train()
        self.train_set.set_epoch(self.epoch)
        total, seen = 0.0, 0
        start = time.perf_counter()
        batches = tqdm(
            self._loader(self.train_set, shuffle=True),
            desc=f"epoch {self.epoch + 1} train",
            disable=not self.progress,
            leave=False,
        )
        for step, (films, targets) in enumerate(batches):
            logits = self._forward(films)
            loss = self.loss_fn(logits, targets.to(self.device))
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss {self.cfg.loss} is {loss.item()} at epoch {self.epoch + 1} step "
                    f"{step + 1}; w-cel is undefined for a batch without positives, "
                    "cw-cel and cw-cel-fine are not"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(films)
            seen += len(films)
            batches.set_postfix(loss=f"{total / seen:.4f}")
        # Under torchrun: the loss over all ranks' films, and the speed of all ranks together.
        total, seen = distributed.sum_all([total, seen], self.group, self.device)
        return total / max(seen, 1), seen / (time.perf_counter() - start)

    @torch.no_grad()
    def validate(self) -> tuple[float, dict[str, float]]:
        """Loss and per-label AUC over the whole validation set, in this process alone."""
        self.net.eval()
        scores, targets, total = [], [], 0.0
        loader = tqdm(
            self._loader(self.val_set, shuffle=False),
            desc=f"epoch {self.epoch + 1} val",
            disable=not self.progress,
            leave=False,
        )
        for films, target in loader:
            # The bare network: DDP's forward would wait for ranks that are not validating.
            logits = self.runtime.forward(self.net, films, self.spec)
            total += self.loss_fn(logits, target.to(self.device)).item() * len(films)
            scores.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(target.numpy())
        aucs = label_aucs(np.concatenate(targets), np.concatenate(scores), self.data.labels)
        return total / len(self.val_set), aucs

    def meta(self, metrics: dict[str, float]) -> checkpoint.CheckpointMeta:
        return checkpoint.CheckpointMeta(
            arch=self.cfg.arch,
            task=self.data.task,
            labels=self.data.labels,
            input_size=self.cfg.crop_size,
            resize=self.cfg.resize,
            mean=self.spec.mean,
            std=self.spec.std,
            epoch=self.epoch,
            metrics=metrics,
        )

    def run(self) -> TrainResult:
        try:
            return self._run()
        finally:
            if self.board is not None:
                self.board.close()

    def _run(self) -> TrainResult:
        while self.epoch < self.cfg.epochs and self.bad_epochs < self.cfg.patience:
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, speed = self.train_epoch()
            distributed.sync_buffers(self.net, self.group)
            row = None
            if self.main:
                val_loss, aucs = self.validate()
                score = mean_auc(aucs, self.data.scored)
                row = {
                    "epoch": self.epoch + 1,
                    "lr": lr,
                    "train_loss": train_loss,
                    "val_loss": val_loss,
                    "val_mean_auc": score,
                    **{f"auc_{name}": value for name, value in aucs.items()},
                    "train_img_per_s": speed,
                }
            row = distributed.broadcast(row, self.group)
            score = row["val_mean_auc"]
            self.scheduler.step()
            self.epoch += 1
            self.history.append(row)
            # NaN (no defined AUC) never counts as better, but the first epoch is always kept.
            improved = self.best_epoch == 0 or (not math.isnan(score) and score > self.best_score)
            if improved:
                self.best_score = -math.inf if math.isnan(score) else score
                self.best_epoch = self.epoch
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
            self._save(row, improved)
            if self.progress:
                tqdm.write(
                    f"epoch {self.epoch}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, "
                    f"val mean AUC {score:.4f}" + (" (best)" if improved else "")
                )
        stopped_early = self.bad_epochs >= self.cfg.patience
        return TrainResult(
            self.run_dir, self.epoch, self.best_epoch, self.best_score, stopped_early
        )

    def _save(self, row: dict[str, Any], improved: bool) -> None:
        weights = {k: v.detach().cpu() for k, v in self.net.state_dict().items()}
        # Every rank's RNG state (to resume each exactly) and weight checksum (to prove the
        # replicas agree): a collective, so every rank takes part before rank 0 writes.
        digest = distributed.checksum(weights) if self.group.active else ""
        shared = distributed.gather((_rng_state(), digest), self.group)
        sums = [s for _, s in shared]
        if len(set(sums)) > 1:
            raise TrainingError(f"the ranks' weights differ after epoch {self.epoch}: {sums}")
        if not self.main:
            return
        metrics = {k: float(v) for k, v in row.items() if k != "epoch"}
        if improved:
            checkpoint.save(self.run_dir / BEST, checkpoint.Checkpoint(self.meta(metrics), weights))
        state = {
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": _rng_state(),
        }
        if self.group.active:
            state["rng_ranks"] = [rng for rng, _ in shared]
            state["replica_sha256"] = sums
        # last.pt is written after best.pt: if it exists, the epoch's outputs are all complete.
        checkpoint.save(
            self.run_dir / LAST, checkpoint.Checkpoint(self.meta(metrics), weights, state)
        )
        _write_history(self.run_dir, self.history)
        self.board.write(row)


def train(cfg: TrainConfig, run_dir: Path, progress: bool = True) -> TrainResult:
    """Start a new run in `run_dir` (created; must not hold a run already)."""
    run_dir = Path(run_dir)
    if (run_dir / LAST).exists():
        raise TrainingError(f"{run_dir} already holds a run; use --resume or another folder")
    with distributed.process_group(cfg.device) as group:
        if group.main:
            run_dir.mkdir(parents=True, exist_ok=True)
        loop = _Loop(cfg, run_dir, progress, group=group)
        if group.main:
            write_text_atomic(run_dir / CONFIG, cfg.to_yaml())
        return loop.run()


def resume(run_dir: Path, progress: bool = True) -> TrainResult:
    """Continue a run from last.pt with its saved config, optimizer, scheduler and RNG state."""
    run_dir = Path(run_dir)
    if not (run_dir / LAST).exists():
        raise TrainingError(f"{run_dir}: nothing to resume (no {LAST})")
    cfg = resolve(None, **load_yaml(run_dir / CONFIG))
    saved = checkpoint.load(run_dir / LAST)
    with distributed.process_group(cfg.device) as group:
        loop = _Loop(cfg, run_dir, progress, initialise=False, group=group)
        loop.restore(saved.train_state, saved.model)
        return loop.run()

"""The training loop: it only steps. One epoch trains, validates, decides early stopping and
hands the outcome to the run folder; the parts come from classifier.training.parts, the files
from classifier.training.rundir, and a run is resumable exactly from its last.pt.

Under torchrun (WORLD_SIZE > 1) every rank trains on its shard of the films through
DistributedDataParallel; rank 0 validates on the whole validation set, shares the epoch's row
with the others (so early stopping decides the same everywhere) and alone writes the run folder.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from classifier.models import checkpoint
from classifier.run import CONFIG, LAST
from classifier.training import distributed
from classifier.training.config import TrainConfig, resolve
from classifier.training.parts import (
    Parts,
    TrainingError,
    build_parts,
    checkpoint_meta,
    epoch_loader,
)
from classifier.training.rundir import PRUNED, RunFolder
from classifier.training.validate import label_aucs, mean_auc

__all__ = ["Loop", "TrainResult", "TrainingError", "resume", "train"]


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    epochs_run: int
    best_epoch: int
    best_score: float  # validation mean AUC of best.pt
    stopped_early: bool


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Loop:
    """Epoch counters and history of one run between epochs; all of it goes into last.pt."""

    def __init__(self, parts: Parts, folder: RunFolder | None, progress: bool) -> None:
        self.parts = parts
        self.folder = folder  # None on the ranks that do not write
        self.progress = progress and parts.group.main
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict[str, Any]] = []

    def restore(self, state: dict[str, Any], model: dict[str, torch.Tensor]) -> None:
        parts = self.parts
        parts.net.load_state_dict(model)
        parts.optimizer.load_state_dict(state["optimizer"])
        parts.scheduler.load_state_dict(state["scheduler"])
        self.epoch = state["epoch"]
        self.best_score = state["best_score"]
        self.best_epoch = state["best_epoch"]
        self.bad_epochs = state["bad_epochs"]
        self.history = list(state["history"])
        ranks, group = state.get("rng_ranks", []), parts.group
        same_world = len(ranks) == group.world and group.active
        _set_rng_state(ranks[group.rank] if same_world else state["rng"])

    def _bar(self, what: str) -> tqdm:
        train = what == "train"
        return tqdm(
            epoch_loader(self.parts, train, self.epoch),
            desc=f"epoch {self.epoch + 1} {what}",
            disable=not self.progress,
            leave=False,
        )

    def train_epoch(self) -> tuple[float, float]:
        """Mean training loss over all ranks' films and their speed (films/s) together."""
        parts = self.parts
        parts.model.train()
        parts.train_set.set_epoch(self.epoch)
        total, seen = 0.0, 0
        start = time.perf_counter()
        batches = self._bar("train")
        for step, (films, targets) in enumerate(batches):
            loss = parts.loss_fn(parts.logits(films), targets.to(parts.device))
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss {parts.cfg.loss} is {loss.item()} at epoch {self.epoch + 1} step "
                    f"{step + 1}; w-cel is undefined for a batch without positives, "
                    "cw-cel and cw-cel-fine are not"
                )
            parts.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            parts.optimizer.step()
            total += loss.item() * len(films)
            seen += len(films)
            batches.set_postfix(loss=f"{total / seen:.4f}")
        total, seen = distributed.sum_all([total, seen], parts.group, parts.device)
        return total / max(seen, 1), seen / (time.perf_counter() - start)

    @torch.no_grad()
    def validate(self) -> tuple[float, dict[str, float]]:
        """Loss and per-label AUC over the whole validation set, in this process alone."""
        parts = self.parts
        parts.net.eval()
        scores, targets, total = [], [], 0.0
        for films, target in self._bar("val"):
            # The bare network: DDP's forward would wait for ranks that are not validating.
            logits = parts.logits(films, distributed_model=False)
            total += parts.loss_fn(logits, target.to(parts.device)).item() * len(films)
            scores.append(torch.sigmoid(logits).cpu().numpy())
            targets.append(target.numpy())
        labels = parts.data.labels
        aucs = label_aucs(np.concatenate(targets), np.concatenate(scores), labels)
        return total / len(parts.val_set), aucs

    def _row(self, lr: float, train_loss: float, speed: float) -> dict[str, Any] | None:
        """The epoch's history row, made on the main process and shared with the others."""
        row = None
        if self.parts.group.main:
            val_loss, aucs = self.validate()
            row = {
                "epoch": self.epoch + 1,
                "lr": lr,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_mean_auc": mean_auc(aucs, self.parts.data.scored),
                **{f"auc_{name}": value for name, value in aucs.items()},
                "train_img_per_s": speed,
            }
        return distributed.broadcast(row, self.parts.group)

    def step(self) -> tuple[dict[str, Any], bool]:
        """One epoch: train, validate, count; (history row, whether it is the best so far)."""
        parts = self.parts
        lr = parts.optimizer.param_groups[0]["lr"]
        train_loss, speed = self.train_epoch()
        distributed.sync_buffers(parts.net, parts.group)
        row = self._row(lr, train_loss, speed)
        score = row["val_mean_auc"]
        parts.scheduler.step()
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
        return row, improved

    def state(self) -> dict[str, Any]:
        parts = self.parts
        return {
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.scheduler.state_dict(),
            "rng": _rng_state(),
        }

    def save(self, row: dict[str, Any], improved: bool) -> None:
        """Every rank's RNG state (to resume each exactly) and weight checksum (to prove the
        replicas agree) are gathered, a collective, before the main process writes."""
        parts, group = self.parts, self.parts.group
        weights = {k: v.detach().cpu() for k, v in parts.net.state_dict().items()}
        digest = distributed.checksum(weights) if group.active else ""
        shared = distributed.gather((_rng_state(), digest), group)
        sums = [s for _, s in shared]
        if len(set(sums)) > 1:
            raise TrainingError(f"the ranks' weights differ after epoch {self.epoch}: {sums}")
        if self.folder is None:
            return
        state = self.state()
        if group.active:
            state["rng_ranks"] = [rng for rng, _ in shared]
            state["replica_sha256"] = sums
        metrics = {k: float(v) for k, v in row.items() if k != "epoch"}
        meta = checkpoint_meta(parts, self.epoch, metrics)
        self.folder.save_epoch(meta, weights, state, row, improved)

    def run(self, run_dir: Path) -> TrainResult:
        """Step until the epochs are done or patience runs out."""
        cfg = self.parts.cfg
        try:
            while self.epoch < cfg.epochs and self.bad_epochs < cfg.patience:
                row, improved = self.step()
                self.save(row, improved)
                if self.progress:
                    tqdm.write(
                        f"epoch {self.epoch}: train loss {row['train_loss']:.4f}, val loss "
                        f"{row['val_loss']:.4f}, val mean AUC {row['val_mean_auc']:.4f}"
                        + (" (best)" if improved else "")
                    )
            if self.folder is not None and not cfg.keep_last:
                self.folder.prune_last()
        finally:
            if self.folder is not None:
                self.folder.close()
        stopped_early = self.bad_epochs >= cfg.patience
        return TrainResult(run_dir, self.epoch, self.best_epoch, self.best_score, stopped_early)


def train(cfg: TrainConfig, run_dir: Path, progress: bool = True) -> TrainResult:
    """Start a new run in `run_dir` (created; must not hold a run already)."""
    run_dir = Path(run_dir)
    RunFolder.check_new(run_dir)
    with distributed.process_group(cfg.device) as group:
        if group.main:
            run_dir.mkdir(parents=True, exist_ok=True)
        parts = build_parts(cfg, group=group)
        folder = RunFolder(run_dir) if group.main else None
        if folder is not None:
            folder.write_config(cfg)
        return Loop(parts, folder, progress).run(run_dir)


def resume(run_dir: Path, progress: bool = True) -> TrainResult:
    """Continue a run from last.pt with its saved config, optimizer, scheduler and RNG state."""
    run_dir = Path(run_dir)
    RunFolder.check_resumable(run_dir)
    cfg = resolve(run_dir / CONFIG)
    saved = checkpoint.load(run_dir / LAST)
    state = saved.train_state
    if state.get(PRUNED):  # finished with --no-keep-last: nothing left to train
        return TrainResult(
            run_dir,
            state["epoch"],
            state["best_epoch"],
            state["best_score"],
            stopped_early=state["bad_epochs"] >= cfg.patience,
        )
    with distributed.process_group(cfg.device) as group:
        parts = build_parts(cfg, initialise=False, group=group)
        loop = Loop(parts, RunFolder(run_dir) if group.main else None, progress)
        loop.restore(saved.train_state, saved.model)
        return loop.run(run_dir)

"""The run folder as training writes it (names in classifier.run): config.yaml once, then after
every epoch best.pt (when it improved), last.pt, history.csv and the TensorBoard view.

Only the main process (rank 0 under torchrun) writes; the others hold no RunFolder.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from classifier.files import write_text_atomic
from classifier.models import checkpoint
from classifier.run import BEST, CONFIG, HISTORY, LAST
from classifier.training.board import Board
from classifier.training.config import TrainConfig
from classifier.training.parts import TrainingError

# What a pruned last.pt keeps of the loop state: enough for `--resume` to report the run.
FINISHED_STATE = ("epoch", "best_score", "best_epoch", "bad_epochs", "history")
PRUNED = "pruned"


def history_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


class RunFolder:
    """Writes one run folder; `close()` ends the TensorBoard view."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.board = Board(self.path)

    @staticmethod
    def check_new(path: Path) -> None:
        if (Path(path) / LAST).exists():
            raise TrainingError(f"{path} already holds a run; use --resume or another folder")

    @staticmethod
    def check_resumable(path: Path) -> None:
        if not (Path(path) / LAST).exists():
            raise TrainingError(f"{path}: nothing to resume (no {LAST})")

    def write_config(self, cfg: TrainConfig) -> None:
        write_text_atomic(self.path / CONFIG, cfg.to_yaml())

    def save_epoch(
        self,
        meta: checkpoint.CheckpointMeta,
        weights: dict[str, torch.Tensor],
        state: dict[str, Any],
        row: dict[str, Any],
        improved: bool,
    ) -> None:
        """best.pt (when `improved`), then last.pt with the loop `state`, then the history
        (`state["history"]`) and the board. last.pt is written after best.pt: if it exists, the
        epoch's outputs are all complete."""
        if improved:
            checkpoint.save(self.path / BEST, checkpoint.Checkpoint(meta, weights))
        checkpoint.save(self.path / LAST, checkpoint.Checkpoint(meta, weights, state))
        write_text_atomic(self.path / HISTORY, history_csv(state["history"]))
        self.board.write(row)

    def prune_last(self) -> None:
        """Rewrite a finished run's last.pt with its counters and history only: the weights
        stay in best.pt, and `--resume` still finds the run finished and returns at once."""
        saved = checkpoint.load(self.path / LAST)
        kept = {key: saved.train_state[key] for key in FINISHED_STATE}
        pruned = checkpoint.Checkpoint(saved.meta, {}, kept | {PRUNED: True})
        checkpoint.save(self.path / LAST, pruned)

    def close(self) -> None:
        self.board.close()

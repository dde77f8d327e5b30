"""TensorBoard scalars per epoch, when the `tensorboard` package is installed.

history.csv is always the record; the event files under RUN/tensorboard are a view of the same
rows for `tensorboard --logdir RUN/tensorboard`. Without tensorboard (an optional extra), a
one-line notice says so after the first epoch and nothing else is written.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

FOLDER = "tensorboard"
NOTICE = (
    "note: tensorboard is not installed, so no TensorBoard view is written (history.csv has "
    "every epoch); pip install 'cxr-toolkit[tensorboard]' for one"
)

# history.csv column → TensorBoard tag; per-label AUCs go under auc/<label>.
TAGS = {
    "train_loss": "loss/train",
    "val_loss": "loss/val",
    "val_mean_auc": "auc/mean",
    "lr": "lr",
    "train_img_per_s": "speed/train_img_per_s",
}


def tag(column: str) -> str | None:
    if column in TAGS:
        return TAGS[column]
    if column.startswith("auc_"):
        return "auc/" + column.removeprefix("auc_")
    return None


class Board:
    """Writes one history row per epoch as scalars; a no-op when tensorboard is missing."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._writer: Any = None
        self._tried = False

    @property
    def writer(self) -> Any:
        if not self._tried:
            self._tried = True
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is not installed
                print(NOTICE, file=sys.stderr)
                return None
            self._writer = SummaryWriter(str(self.run_dir / FOLDER))
        return self._writer

    def write(self, row: dict[str, Any]) -> None:
        writer = self.writer
        if writer is None:
            return
        for column, value in row.items():
            name = tag(column)
            if name is not None:
                writer.add_scalar(name, float(value), global_step=int(row["epoch"]))
        writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

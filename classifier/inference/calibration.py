"""A checkpoint's calibration: decision thresholds and the label tree (paper 003), fitted on the
validation split by `cxrclf evaluate`, saved beside the checkpoint and obeyed by `cxrclf predict`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.inference.labeltree import LabelTree
from classifier.run import calibration_path

CALIBRATION_FORMAT = "cxrclf-calibration"


def json_float(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is null."""
    return None if math.isnan(value) else float(value)


@dataclass(frozen=True)
class Calibration:
    """Decision thresholds and the label tree, fitted on validation scores of one checkpoint."""

    checkpoint: str  # file name of the checkpoint it belongs to
    rule: str  # the ThresholdRule that chose the thresholds
    thresholds: dict[str, float]  # per region; NaN where validation had one class
    tree: LabelTree | None  # None when some region had one class in validation
    tree_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "version": 1,
            "checkpoint": self.checkpoint,
            "rule": self.rule,
            "thresholds": {k: json_float(v) for k, v in self.thresholds.items()},
            "label_tree": self.tree.to_dict() if self.tree is not None else None,
            "label_tree_error": self.tree_error,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Calibration:
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"{where}: not a cxrclf calibration file")
        try:
            tree = data["label_tree"]
            return cls(
                checkpoint=str(data["checkpoint"]),
                rule=str(data["rule"]),
                thresholds={
                    k: math.nan if v is None else float(v) for k, v in data["thresholds"].items()
                },
                tree=LabelTree.from_dict(tree) if tree is not None else None,
                tree_error=str(data.get("label_tree_error", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad calibration file ({exc})") from exc


def read_calibration(checkpoint_path: Path) -> Calibration | None:
    """The calibration saved beside a checkpoint, None when it was never evaluated."""
    path = calibration_path(checkpoint_path)
    if not path.is_file():
        return None
    return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))

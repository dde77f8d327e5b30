"""A checkpoint's calibration: decision thresholds and the label tree (paper 003), fitted on the
validation split by `cxrclf evaluate`, saved beside the checkpoint and obeyed by `cxrclf predict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifier.inference.labeltree import LabelTree
from classifier.run import calibration_path, read_record

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
        if data.get("version") != 1:
            raise ValueError(f"{where}: calibration version {data.get('version')!r}, this reads 1")
        try:
            tree = data["label_tree"]
            return cls(
                checkpoint=str(data["checkpoint"]),
                rule=str(data["rule"]),
                thresholds=_thresholds(data["thresholds"]),
                tree=LabelTree.from_dict(tree) if tree is not None else None,
                tree_error=str(data.get("label_tree_error", "")),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad calibration ({exc})") from exc

    def regions(self) -> set[str]:
        """Every region it names: its thresholds' and its label tree's."""
        return set(self.thresholds) | (set(self.tree.regions) if self.tree is not None else set())


def _thresholds(data: Any) -> dict[str, float]:
    """Region -> threshold in [0, 1] (null: NaN, validation had one class)."""
    if not isinstance(data, dict):
        raise TypeError(f"thresholds must map regions to numbers, got {type(data).__name__}")
    out: dict[str, float] = {}
    for region, value in data.items():
        if value is None:
            out[region] = math.nan
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"threshold of {region!r} is {value!r}, not a number")
        if not 0 <= value <= 1:
            raise ValueError(f"threshold of {region!r} is {value}, outside [0, 1]")
        out[region] = float(value)
    return out


def read_calibration(checkpoint_path: Path) -> Calibration | None:
    """The calibration saved beside a checkpoint, None when it was never evaluated."""
    path = calibration_path(checkpoint_path)
    data = read_record(path, "calibration")
    return None if data is None else Calibration.from_dict(data, str(path))

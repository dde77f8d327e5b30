"""`cxrclf compare`: the metrics of several evaluated runs in one table."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from classifier.evaluation.report import METRICS_JSON


class CompareError(ValueError):
    """A run that has no readable evaluation."""


def metrics_file(path: Path, split: str = "test") -> Path:
    """metrics.json of a run folder (its eval-SPLIT/), of an evaluation folder, or the file."""
    path = Path(path)
    for candidate in (path / f"eval-{split}" / METRICS_JSON, path / METRICS_JSON, path):
        if candidate.is_file():
            return candidate
    raise CompareError(f"{path}: no {METRICS_JSON} (run `cxrclf evaluate {path}` first)")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["regions"].items()
        return data
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise CompareError(f"{path}: not a cxrclf metrics.json ({exc})") from exc


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def compare_frame(runs: Sequence[Path], split: str = "test") -> pd.DataFrame:
    """One row per run: network, epoch, split, films, per-region AUC, mean AUC and its CI."""
    records = []
    for run in runs:
        source = metrics_file(run, split)
        data = _read(source)
        record: dict[str, Any] = {
            "run": str(run),
            "arch": data.get("arch", ""),
            "epoch": data.get("epoch", ""),
            "split": data.get("split", ""),
            "films": data.get("films", ""),
        }
        for region, values in data["regions"].items():
            record[region] = _number(values.get("auc"))
        record["mean"] = _number(data.get("mean_auc"))
        record["mean_ci_low"] = _number(data.get("mean_ci_low"))
        record["mean_ci_high"] = _number(data.get("mean_ci_high"))
        records.append(record)
    return pd.DataFrame.from_records(records)


def render_markdown(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    low, high = shown.pop("mean_ci_low"), shown.pop("mean_ci_high")
    shown["mean 95% CI"] = [
        "–" if math.isnan(a) else f"{a:.3f}–{b:.3f}" for a, b in zip(low, high, strict=True)
    ]
    return shown.to_markdown(index=False, floatfmt=".3f") + "\n"

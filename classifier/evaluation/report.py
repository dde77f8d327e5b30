"""The files of an evaluation: ROC and calibration plots, per-film predictions, metrics.json and
metrics.md (the table a paper would print)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classifier.evaluation import plots
from classifier.evaluation.metrics import Interval, OperatingPoint
from classifier.files import write_atomic, write_text_atomic
from classifier.inference.calibration import json_float
from classifier.inference.scoring import Classifier
from classifier.training.datasets import LabelledImages

METRICS_JSON = "metrics.json"


@dataclass(frozen=True)
class RegionResult:
    region: str
    positives: int
    negatives: int
    auc: float
    ci: Interval
    point: OperatingPoint  # at the validation-chosen threshold


@dataclass(frozen=True)
class Evaluation:
    checkpoint: str
    arch: str
    epoch: int
    split: str
    films: int
    patients: int
    rule: str
    level: float
    replicates: int
    regions: tuple[RegionResult, ...]
    mean_auc: float
    mean_ci: Interval

    @property
    def positives(self) -> int:
        """Positive labels over all regions (the counts behind an undefined mean)."""
        return sum(r.positives for r in self.regions)

    @property
    def negatives(self) -> int:
        return sum(r.negatives for r in self.regions)

    def to_dict(self) -> dict[str, Any]:
        def region(r: RegionResult) -> dict[str, Any]:
            p = r.point
            return {
                "positives": r.positives,
                "negatives": r.negatives,
                "auc": json_float(r.auc),
                "ci_low": json_float(r.ci.low),
                "ci_high": json_float(r.ci.high),
                "ci_replicates": r.ci.replicates,
                "threshold": json_float(p.threshold),
                "sensitivity": json_float(p.sensitivity),
                "specificity": json_float(p.specificity),
                "ppv": json_float(p.ppv),
                "npv": json_float(p.npv),
                **{k: getattr(p, k) for k in ("tp", "fp", "tn", "fn")},
            }

        head = {k: v for k, v in asdict(self).items() if k not in ("regions", "mean_ci")}
        return head | {
            "mean_auc": json_float(self.mean_auc),
            "mean_ci_low": json_float(self.mean_ci.low),
            "mean_ci_high": json_float(self.mean_ci.high),
            "mean_ci_replicates": self.mean_ci.replicates,
            "positives": self.positives,
            "negatives": self.negatives,
            "regions": {r.region: region(r) for r in self.regions},
        }


def write_report(
    out_dir: Path,
    evaluation: Evaluation,
    clf: Classifier,
    films: LabelledImages,
    all_scores: np.ndarray,
) -> None:
    """roc.png, calibration.png, predictions.csv, metrics.json and metrics.md in `out_dir`."""
    columns = [clf.meta.labels.index(r) for r in clf.regions]
    y, s = films.labels[:, columns], all_scores[:, columns]
    title = f"{clf.meta.arch}, {evaluation.split} split ({evaluation.films} films)"
    aucs = [r.auc for r in evaluation.regions]
    write_atomic(out_dir / "roc.png", plots.roc_png(y, s, clf.regions, aucs, title))
    write_atomic(out_dir / "calibration.png", plots.calibration_png(y, s, clf.regions, title))
    table = pd.DataFrame({"image": [str(p) for p in films.paths], "patient_id": films.patients})
    for j, label in enumerate(clf.meta.labels):
        table[label] = films.labels[:, j].astype(int)
        table[f"{label}_score"] = all_scores[:, j]
    write_text_atomic(out_dir / "predictions.csv", table.to_csv(index=False))
    write_text_atomic(
        out_dir / METRICS_JSON,
        json.dumps(evaluation.to_dict(), indent=2, ensure_ascii=False),
    )
    write_text_atomic(out_dir / "metrics.md", render_markdown(evaluation))


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if math.isnan(value) else f"{value:.{digits}f}"


def undefined(positives: int, negatives: int) -> str:
    """What an AUC or CI that the data cannot define is shown as (one class only)."""
    return f"undefined (n_pos={positives}, n_neg={negatives})"


def auc_text(auc: float, ci: Interval, positives: int, negatives: int, level: float) -> str:
    """`0.8123 (95% CI 0.7000–0.9000)`, or undefined with the counts instead of numbers."""
    if math.isnan(auc):
        return undefined(positives, negatives)
    if math.isnan(ci.low):
        return f"{auc:.4f} ({level:.0%} CI {undefined(positives, negatives)})"
    return f"{auc:.4f} ({level:.0%} CI {ci.low:.4f}–{ci.high:.4f})"


def summary_lines(e: Evaluation) -> list[str]:
    """The mean AUC on screen, then every region whose AUC or CI is undefined."""
    mean = auc_text(e.mean_auc, e.mean_ci, e.positives, e.negatives, e.level)
    lines = [f"{e.split}: mean AUC {mean} over {e.films} films"]
    for r in e.regions:
        if math.isnan(r.auc) or math.isnan(r.ci.low):
            text = auc_text(r.auc, r.ci, r.positives, r.negatives, e.level)
            lines.append(f"{r.region}: AUC {text}")
    return lines


def _md_auc(auc: float, ci: Interval, positives: int, negatives: int) -> tuple[str, str]:
    if math.isnan(auc):
        return undefined(positives, negatives), "undefined"
    if math.isnan(ci.low):
        return _fmt(auc), undefined(positives, negatives)
    return _fmt(auc), f"{_fmt(ci.low)}–{_fmt(ci.high)}"


def render_markdown(e: Evaluation) -> str:
    pct = f"{e.level:.0%}"
    lines = [
        f"# {e.arch} on the {e.split} split",
        "",
        f"Checkpoint `{e.checkpoint}` (epoch {e.epoch}); {e.films} films of {e.patients} "
        f"patients. {pct} CIs from {e.replicates} patient-level bootstrap samples; thresholds "
        f"chosen on validation ({e.rule}).",
        "",
        f"| region | positives | negatives | AUC | {pct} CI | threshold | sensitivity "
        "| specificity | PPV | NPV |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in e.regions:
        p = r.point
        auc, ci = _md_auc(r.auc, r.ci, r.positives, r.negatives)
        lines.append(
            f"| {r.region} | {r.positives} | {r.negatives} | {auc} | {ci} | {_fmt(p.threshold)} | "
            f"{_fmt(p.sensitivity)} | {_fmt(p.specificity)} | {_fmt(p.ppv)} | {_fmt(p.npv)} |"
        )
    auc, ci = _md_auc(e.mean_auc, e.mean_ci, e.positives, e.negatives)
    lines.append(f"| **mean** | | | **{auc}** | {ci} | | | | | |")
    return "\n".join(lines) + "\n"

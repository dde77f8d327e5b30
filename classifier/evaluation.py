"""`cxrclf evaluate`: a trained classifier scored on a manifest split.

Outputs (in `eval-<split>/` beside the checkpoint unless told otherwise): metrics.json,
metrics.md, roc.png, calibration.png and predictions.csv (one row per film: targets and scores).
Thresholds and the label tree (paper 003) are fitted on the validation split and saved beside the
checkpoint as `<checkpoint stem>.calibration.json`, where `cxrclf predict` finds them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from classifier import labeltree, plots
from classifier.config import load_yaml
from classifier.datasets import NORMAL, DataError, LabelledImages, read_split
from classifier.files import write_atomic, write_text_atomic
from classifier.inference import Classifier, load_classifier, score_images
from classifier.labeltree import LabelTree
from classifier.metrics import (
    Interval,
    OperatingPoint,
    ThresholdRule,
    bootstrap_aucs,
    operating_point,
    percentile_interval,
)
from classifier.train import BEST, CONFIG

CALIBRATION_FORMAT = "cxrclf-calibration"
METRICS_JSON = "metrics.json"


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
            "thresholds": {k: _json_float(v) for k, v in self.thresholds.items()},
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


def calibration_path(checkpoint_path: Path) -> Path:
    return Path(checkpoint_path).with_suffix(".calibration.json")


def read_calibration(checkpoint_path: Path) -> Calibration | None:
    """The calibration saved beside a checkpoint, None when it was never evaluated."""
    path = calibration_path(checkpoint_path)
    if not path.is_file():
        return None
    return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))


def fit_calibration(
    checkpoint: str,
    targets: np.ndarray,
    scores: np.ndarray,
    labels: tuple[str, ...],
    rule: ThresholdRule,
    bins: int = 10,
) -> Calibration:
    regions = tuple(label for label in labels if label != NORMAL)
    columns = [labels.index(r) for r in regions]
    thresholds = {
        r: rule.choose(targets[:, j], scores[:, j]) for r, j in zip(regions, columns, strict=True)
    }
    normal = scores[:, labels.index(NORMAL)] if NORMAL in labels else None
    try:
        tree = labeltree.fit_tree(
            scores[:, columns], targets[:, columns], regions, normal_scores=normal, bins=bins
        )
        error = ""
    except ValueError as exc:
        tree, error = None, str(exc)
    return Calibration(checkpoint, str(rule), thresholds, tree, error)


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

    def to_dict(self) -> dict[str, Any]:
        def region(r: RegionResult) -> dict[str, Any]:
            p = r.point
            return {
                "positives": r.positives,
                "negatives": r.negatives,
                "auc": _json_float(r.auc),
                "ci_low": _json_float(r.ci.low),
                "ci_high": _json_float(r.ci.high),
                "ci_replicates": r.ci.replicates,
                "threshold": _json_float(p.threshold),
                "sensitivity": _json_float(p.sensitivity),
                "specificity": _json_float(p.specificity),
                "ppv": _json_float(p.ppv),
                "npv": _json_float(p.npv),
                **{k: getattr(p, k) for k in ("tp", "fp", "tn", "fn")},
            }

        head = {k: v for k, v in asdict(self).items() if k not in ("regions", "mean_ci")}
        return head | {
            "mean_auc": _json_float(self.mean_auc),
            "mean_ci_low": _json_float(self.mean_ci.low),
            "mean_ci_high": _json_float(self.mean_ci.high),
            "regions": {r.region: region(r) for r in self.regions},
        }


def _json_float(value: float) -> float | None:
    """JSON has no NaN: an undefined figure is null."""
    return None if math.isnan(value) else float(value)


def score_metrics(
    targets: np.ndarray,
    scores: np.ndarray,
    patients: np.ndarray,
    regions: tuple[str, ...],
    thresholds: dict[str, float],
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[tuple[RegionResult, ...], float, Interval]:
    """Per-region AUC with patient-level bootstrap CI and the operating point at each threshold;
    the mean AUC over the regions that have one, with its CI from the same bootstrap samples."""
    boot = bootstrap_aucs(targets, scores, patients, replicates, seed)
    results = []
    for j, region in enumerate(regions):
        y, s = targets[:, j], scores[:, j]
        single = y.min() == y.max()
        auc = math.nan if single else float(roc_auc_score(y, s))
        results.append(
            RegionResult(
                region,
                int(y.sum()),
                int(len(y) - y.sum()),
                auc,
                percentile_interval(boot[:, j], level),
                operating_point(y, s, thresholds[region]),
            )
        )
    defined = [j for j, r in enumerate(results) if not math.isnan(r.auc)]
    mean = float(np.mean([results[j].auc for j in defined])) if defined else math.nan
    per_sample = boot[:, defined].mean(axis=1) if defined else np.full(replicates, math.nan)
    return tuple(results), mean, percentile_interval(per_sample, level)


def locate(run_or_checkpoint: Path, data: Path | None) -> tuple[Path, Path]:
    """(checkpoint, manifest) from a run folder or a checkpoint file plus --data."""
    given = Path(run_or_checkpoint)
    run_dir = given if given.is_dir() else given.parent
    ckpt = given / BEST if given.is_dir() else given
    if not ckpt.is_file():
        raise DataError(f"{ckpt}: no such checkpoint (a run folder holds {BEST})")
    if data is not None:
        return ckpt, Path(data)
    config = run_dir / CONFIG
    saved = load_yaml(config).get("data") if config.is_file() else None
    if not saved:
        raise DataError(f"{ckpt}: no run config names its manifest; give --data MANIFEST")
    manifest = Path(saved)
    if not manifest.is_file():
        raise DataError(
            f"{config} names the manifest {manifest}, which is not there; give --data MANIFEST"
        )
    return ckpt, manifest


def evaluate(
    run_or_checkpoint: Path,
    data: Path | None = None,
    split: str = "test",
    out_dir: Path | None = None,
    rule: ThresholdRule | None = None,
    replicates: int = 1000,
    level: float = 0.95,
    device: str = "auto",
    batch_size: int = 64,
    workers: int = 0,
    progress: bool = False,
) -> tuple[Evaluation, Path]:
    """Score the split, fit the calibration on validation, write everything; (result, folder)."""
    rule = rule or ThresholdRule()
    ckpt, manifest = locate(run_or_checkpoint, data)
    clf = load_classifier(ckpt, device)
    aux = clf.has_normal
    val = read_split(manifest, "val", aux_normal=aux)
    target = val if split == "val" else read_split(manifest, split, aux_normal=aux)

    def scores(images: LabelledImages, name: str) -> np.ndarray:
        return score_images(clf, images, batch_size, workers, progress, f"score {name}")

    val_scores = scores(val, "val")
    test_scores = val_scores if split == "val" else scores(target, split)
    calibration = fit_calibration(ckpt.name, val.labels, val_scores, clf.meta.labels, rule)
    write_text_atomic(
        calibration_path(ckpt), json.dumps(calibration.to_dict(), indent=2, ensure_ascii=False)
    )
    columns = [clf.meta.labels.index(r) for r in clf.regions]
    y, s = target.labels[:, columns], test_scores[:, columns]
    patients = np.array(target.patients)
    results, mean, mean_ci = score_metrics(
        y, s, patients, clf.regions, calibration.thresholds, replicates, level
    )
    evaluation = Evaluation(
        checkpoint=str(ckpt),
        arch=clf.meta.arch,
        epoch=clf.meta.epoch,
        split=split,
        films=len(target),
        patients=len(set(target.patients)),
        rule=str(rule),
        level=level,
        replicates=replicates,
        regions=results,
        mean_auc=mean,
        mean_ci=mean_ci,
    )
    out_dir = Path(out_dir) if out_dir is not None else ckpt.parent / f"eval-{split}"
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(out_dir, evaluation, clf, target, test_scores, y, s)
    return evaluation, out_dir


def _write(
    out_dir: Path,
    evaluation: Evaluation,
    clf: Classifier,
    films: LabelledImages,
    all_scores: np.ndarray,
    y: np.ndarray,
    s: np.ndarray,
) -> None:
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
        lines.append(
            f"| {r.region} | {r.positives} | {r.negatives} | {_fmt(r.auc)} | "
            f"{_fmt(r.ci.low)}–{_fmt(r.ci.high)} | {_fmt(p.threshold)} | {_fmt(p.sensitivity)} | "
            f"{_fmt(p.specificity)} | {_fmt(p.ppv)} | {_fmt(p.npv)} |"
        )
    lines.append(
        f"| **mean** | | | **{_fmt(e.mean_auc)}** | {_fmt(e.mean_ci.low)}–{_fmt(e.mean_ci.high)} "
        "| | | | | |"
    )
    return "\n".join(lines) + "\n"

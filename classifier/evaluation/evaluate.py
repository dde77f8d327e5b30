"""`cxrclf evaluate`: a trained classifier scored on a manifest split.

Outputs (in `eval-<split>/` beside the checkpoint unless told otherwise): metrics.json,
metrics.md, roc.png, calibration.png and predictions.csv (one row per film: targets and scores).
Thresholds and the label tree (paper 003) are fitted on the validation split and saved beside the
checkpoint as `<checkpoint stem>.calibration.json`, where `cxrclf predict` finds them.
"""

from __future__ import annotations

import filecmp
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from classifier.data.manifest import manifest_format
from classifier.evaluation.metrics import (
    Interval,
    ThresholdRule,
    bootstrap_aucs,
    operating_point,
    percentile_interval,
)
from classifier.evaluation.report import Evaluation, RegionResult, write_report
from classifier.files import write_text_atomic
from classifier.inference import labeltree
from classifier.inference.calibration import Calibration
from classifier.inference.scoring import Classifier, load_classifier, score_images
from classifier.run import BEST, CONFIG, RecordError, calibration_path, eval_dir
from classifier.training.config import load_yaml
from classifier.training.datasets import NORMAL, DataError, LabelledImages, read_split


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


def own_manifest(ckpt: Path, manifest: Path) -> bool:
    """Whether `manifest` stands for the data the run trained on: the one its config.yaml names
    (or a byte-identical copy), or any, when that one is not there (a moved run, an exported
    checkpoint without a config)."""
    config = Path(ckpt).parent / CONFIG
    saved = load_yaml(config).get("data") if config.is_file() else None
    if not saved or not Path(saved).is_file():
        return True
    same_path = os.path.realpath(saved) == os.path.realpath(manifest)
    return same_path or filecmp.cmp(saved, manifest, shallow=False)  # or a copy of it


def calibration_file(ckpt: Path, manifest: Path, out_dir: Path) -> Path:
    """Where evaluate writes the thresholds and label tree it fits: beside the checkpoint, where
    predict reads them, only when fitted on the run's own validation split; fitted on other data
    (--data), they go into the report folder and the run's calibration stays as it was."""
    if own_manifest(ckpt, manifest):
        return calibration_path(ckpt)
    return Path(out_dir) / calibration_path(ckpt).name


def check_manifest(clf: Classifier, manifest: Path) -> None:
    """A manifest whose training images were made otherwise than the checkpoint's would be
    scored on films the network never saw the like of: refused, naming both."""
    trained = clf.meta.preprocessing.film
    if trained is None:  # a version-1 checkpoint: how its films were made was not recorded
        return
    try:
        made = manifest_format(manifest)
    except (RecordError, ValueError) as exc:
        raise DataError(str(exc)) from exc
    if not made.same_images(trained):
        raise DataError(
            f"{manifest} holds training images {made.describe()}, but {clf.path} was trained "
            f"on {trained.describe()}; rebuild the dataset with --size {trained.size} "
            f"--bit-depth {trained.bit_depth}"
        )


@dataclass(frozen=True)
class EvalConfig:
    """How `cxrclf evaluate` scores a run; the defaults are the command's."""

    data: Path | None = None  # the manifest; None: the one the run's config.yaml names
    split: str = "test"
    out_dir: Path | None = None  # None: eval-<split>/ beside the checkpoint
    rule: ThresholdRule = field(default_factory=ThresholdRule)  # chosen on validation
    replicates: int = 1000  # patient-level bootstrap samples
    level: float = 0.95  # of the confidence intervals
    device: str = "auto"
    batch_size: int = 64
    workers: int = 0
    progress: bool = False


def evaluate(run_or_checkpoint: Path, config: EvalConfig | None = None) -> tuple[Evaluation, Path]:
    """Score the split, fit the calibration on validation, write everything; (result, folder)."""
    config = config or EvalConfig()
    ckpt, manifest = locate(run_or_checkpoint, config.data)
    clf = load_classifier(ckpt, config.device)
    check_manifest(clf, manifest)
    split = config.split
    val = read_split(manifest, "val", clf.meta.labels)
    target = val if split == "val" else read_split(manifest, split, clf.meta.labels)

    def scores(images: LabelledImages, name: str) -> np.ndarray:
        return score_images(
            clf, images, config.batch_size, config.workers, config.progress, f"score {name}"
        )

    val_scores = scores(val, "val")
    test_scores = val_scores if split == "val" else scores(target, split)
    calibration = fit_calibration(ckpt.name, val.labels, val_scores, clf.meta.labels, config.rule)
    out_dir = Path(config.out_dir) if config.out_dir is not None else eval_dir(ckpt, split)
    write_text_atomic(
        calibration_file(ckpt, manifest, out_dir),
        json.dumps(calibration.to_dict(), indent=2, ensure_ascii=False),
    )
    evaluation = _measure(ckpt, clf, target, test_scores, calibration, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_report(out_dir, evaluation, clf, target, test_scores)
    return evaluation, out_dir


def _measure(
    ckpt: Path,
    clf: Classifier,
    target: LabelledImages,
    scores: np.ndarray,
    calibration: Calibration,
    config: EvalConfig,
) -> Evaluation:
    columns = [clf.meta.labels.index(r) for r in clf.regions]
    results, mean, mean_ci = score_metrics(
        target.labels[:, columns],
        scores[:, columns],
        np.array(target.patients),
        clf.regions,
        calibration.thresholds,
        config.replicates,
        config.level,
    )
    return Evaluation(
        checkpoint=str(ckpt),
        arch=clf.meta.arch,
        epoch=clf.meta.epoch,
        split=config.split,
        films=len(target),
        patients=len(set(target.patients)),
        rule=str(config.rule),
        level=config.level,
        replicates=config.replicates,
        regions=results,
        mean_auc=mean,
        mean_ci=mean_ci,
    )

"""`cxrclf predict`: region probabilities and decisions for film files, one CSV row per file.

Decisions use the thresholds fitted on validation by `cxrclf evaluate` (saved beside the
checkpoint); a region without a fitted threshold (never evaluated, or one class in validation)
falls back to 0.5, and the `threshold_source` column says which regions did. With a confidence T
the label tree (paper 003) adds the film-level verdict and the confident regions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from classifier.data.dicomio import RASTER_SUFFIXES
from classifier.inference import labeltree
from classifier.inference.calibration import Calibration
from classifier.inference.export import (
    Format,
    calibration_of,
    calibration_where,
    foreign_regions,
)
from classifier.inference.scoring import FileScores, Scorer, load_scorer, score_files
from classifier.training.datasets import NORMAL

DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
DEFAULT_THRESHOLD = 0.5


class PredictError(ValueError):
    """Input that cannot be predicted on at all (no films found, no label tree for --confidence)."""


def is_film_candidate(path: Path) -> bool:
    """Film files in a folder: PNG/JPEG, .dcm/.dicom, or no suffix (as PACS exports name them)."""
    suffix = path.suffix.lower()
    return not path.name.startswith(".") and (
        suffix in RASTER_SUFFIXES or suffix in DICOM_SUFFIXES or suffix == ""
    )


def collect_films(paths: Iterable[Path]) -> list[Path]:
    """Files as given (whatever their suffix) and film candidates under folders, sorted."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_film_candidate(p)))
        elif path.exists():
            found.append(path)
        else:
            raise PredictError(f"{path}: no such file or folder")
    if not found:
        raise PredictError("no film files found (PNG, JPEG, DICOM)")
    return found


DEFAULT_SOURCE = "default 0.5"


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, float]
    sources: dict[str, str]  # per region: "validation (youden)" or "default 0.5"

    @property
    def source(self) -> str:
        """One cell for every row: the common source, or each region's when they differ."""
        kinds = set(self.sources.values())
        if len(kinds) == 1:
            return kinds.pop()
        return "; ".join(f"{r}: {s}" for r, s in self.sources.items())


def thresholds_for(clf: Scorer, calibration: Calibration | None) -> Thresholds:
    fitted = calibration.thresholds if calibration is not None else {}
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for region in clf.regions:
        value = fitted.get(region, math.nan)
        if math.isnan(value) or calibration is None:
            values[region], sources[region] = DEFAULT_THRESHOLD, DEFAULT_SOURCE
        else:
            values[region], sources[region] = value, f"validation ({calibration.rule})"
    return Thresholds(values, sources)


def tree_for(
    calibration: Calibration | None, confidence: float | None, where: Path
) -> labeltree.LabelTree | None:
    """The label tree --confidence needs; refused with the reason evaluate recorded for none.
    `where` is the calibration's file (export.calibration_where): beside a checkpoint, or
    the exported model that embeds it."""
    if confidence is None:
        return None
    if calibration is None:
        missing = (
            f"{where.name} was exported without one" if Format.detect(where) else f"no {where.name}"
        )
        raise PredictError(
            f"--confidence needs the label tree fitted by `cxrclf evaluate` ({missing})"
        )
    if calibration.tree is None:
        reason = calibration.tree_error or "no reason recorded"
        raise PredictError(f"--confidence: {where} has no label tree: {reason}")
    return calibration.tree


def prediction_table(
    clf: Scorer,
    scored: FileScores,
    thresholds: Thresholds,
    tree: labeltree.LabelTree | None = None,
    confidence: float | None = None,
) -> pd.DataFrame:
    """file, error, <region> probability, <region>_abnormal (0/1, empty when unreadable),
    threshold source, and with a confidence: film verdict, confident and uncertain regions."""
    if confidence is not None and tree is None:
        raise PredictError("--confidence needs the label tree fitted by `cxrclf evaluate`")
    labels = clf.meta.labels
    ok = np.array([not reason for reason in scored.reasons], dtype=bool)
    table = pd.DataFrame({"file": [str(p) for p in scored.paths], "error": scored.reasons})
    for region in clf.regions:
        probs = scored.scores[:, labels.index(region)]
        table[region] = np.round(probs, 6)
        called = (probs >= thresholds.values[region]).astype(int)
        table[f"{region}_abnormal"] = pd.array(np.where(ok, called, 0), dtype="Int64")
        table.loc[~ok, f"{region}_abnormal"] = pd.NA
    if NORMAL in labels:
        table[NORMAL] = np.round(scored.scores[:, labels.index(NORMAL)], 6)
    table["threshold_source"] = thresholds.source
    if confidence is not None and tree is not None:
        _add_tree(table, clf, scored, ok, tree, confidence)
    return table


def _add_tree(
    table: pd.DataFrame,
    clf: Scorer,
    scored: FileScores,
    ok: np.ndarray,
    tree: labeltree.LabelTree,
    confidence: float,
) -> None:
    labels = clf.meta.labels
    columns = [labels.index(r) for r in tree.regions]
    normal = scored.scores[ok, labels.index(NORMAL)] if NORMAL in labels else None
    decisions = labeltree.decide(tree, scored.scores[ok][:, columns], confidence, normal)
    verdict = np.full(len(table), "", dtype=object)
    confident = np.full(len(table), "", dtype=object)
    uncertain = np.full(len(table), "", dtype=object)
    rows = np.flatnonzero(ok)
    for row, decision in zip(rows, decisions, strict=True):
        verdict[row] = decision.film
        confident[row] = ";".join(decision.abnormal_regions)
        uncertain[row] = ";".join(decision.uncertain_regions)
    table[f"film_at_{confidence:g}"] = verdict
    table["confident_regions"] = confident
    table["uncertain_regions"] = uncertain


@dataclass(frozen=True)
class Predictions:
    table: pd.DataFrame  # prediction_table's columns, one row per film, in order
    thresholds: Thresholds
    calibration: Calibration | None  # what the decisions obeyed (calibration_of)
    failed: tuple[tuple[Path, str], ...]  # unreadable films and why


def predict(
    model: Scorer | Path,
    paths: Iterable[Path],
    confidence: float | None = None,
    device: str = "auto",
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
) -> Predictions:
    """`cxrclf predict`: films and folders of films scored and decided with the model's
    calibration (and its label tree with a confidence). A model given as a file is loaded on
    `device` after its calibration was found fit for the request, so a refusal comes first."""
    if confidence is not None and not 0.5 < confidence <= 1:
        raise PredictError(f"--confidence must be in (0.5, 1], got {confidence}")
    path = model if isinstance(model, Path) else model.path
    calibration = calibration_of(path)
    tree = tree_for(calibration, confidence, calibration_where(path))
    clf = load_scorer(path, device) if isinstance(model, Path) else model
    problem = foreign_regions(calibration, clf.regions, path)
    if problem:
        raise PredictError(problem)
    films = collect_films(paths)
    scored = score_files(clf, films, batch_size, workers, progress)
    thresholds = thresholds_for(clf, calibration)
    table = prediction_table(clf, scored, thresholds, tree, confidence)
    failed = tuple((p, r) for p, r in zip(scored.paths, scored.reasons, strict=True) if r)
    return Predictions(table, thresholds, calibration, failed)

"""`cxrclf predict`: region probabilities and decisions for film files, one CSV row per file.

Decisions use the thresholds fitted on validation by `cxrclf evaluate` (saved beside the
checkpoint); a checkpoint never evaluated falls back to 0.5 and says so in every row. With a
confidence T the label tree (paper 003) adds the film-level verdict and the confident regions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from classifier import labeltree
from classifier.datasets import NORMAL
from classifier.dicomio import RASTER_SUFFIXES
from classifier.evaluation import Calibration
from classifier.inference import Classifier, FileScores

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


@dataclass(frozen=True)
class Thresholds:
    values: dict[str, float]
    source: str  # "validation (youden)" or "default 0.5"


def thresholds_for(clf: Classifier, calibration: Calibration | None) -> Thresholds:
    if calibration is None:
        return Thresholds(dict.fromkeys(clf.regions, DEFAULT_THRESHOLD), "default 0.5")
    values = {
        r: DEFAULT_THRESHOLD if math.isnan(t) else t for r, t in calibration.thresholds.items()
    }
    return Thresholds(values, f"validation ({calibration.rule})")


def prediction_table(
    clf: Classifier,
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
    table["threshold"] = thresholds.source
    if confidence is not None and tree is not None:
        _add_tree(table, clf, scored, ok, tree, confidence)
    return table


def _add_tree(
    table: pd.DataFrame,
    clf: Classifier,
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

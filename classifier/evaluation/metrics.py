"""Per-region ROC AUC, patient-level bootstrap intervals, thresholds and operating points.

Undefined values (one class only, no positives called) are NaN, never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    replicates: int  # bootstrap samples in which the AUC was defined


def patient_weights(patients: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """(replicates, films) weights of patient-level bootstrap samples.

    Each sample draws patients with replacement and takes all of a drawn patient's films;
    a film's weight is how often its patient was drawn. AUC with these sample weights equals the
    AUC of the resampled set with the films repeated.
    """
    _, codes = np.unique(patients, return_inverse=True)
    n = int(codes.max()) + 1 if len(codes) else 0
    draws = rng.integers(0, n, size=(replicates, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in draws])
    return counts[:, codes].astype(np.float64)


def bootstrap_aucs(
    targets: np.ndarray,
    scores: np.ndarray,
    patients: np.ndarray,
    replicates: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """(replicates, columns) AUCs over patient-level bootstrap samples; NaN where a sample holds
    one class only."""
    weights = patient_weights(patients, replicates, np.random.default_rng(seed))
    out = np.full((replicates, targets.shape[1]), math.nan)
    for j in range(targets.shape[1]):
        y, s = targets[:, j], scores[:, j]
        for i, w in enumerate(weights):
            positives = w[y == 1].sum()
            if 0 < positives < w.sum():
                out[i, j] = roc_auc_score(y, s, sample_weight=w)
    return out


def percentile_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    """The central `level` percentile interval of the defined values."""
    values = values[~np.isnan(values)]
    if not len(values):
        return Interval(math.nan, math.nan, 0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(float(low), float(high), len(values))


THRESHOLD_RULES = ("youden", "sensitivity", "specificity")


@dataclass(frozen=True)
class ThresholdRule:
    """How a region's decision threshold is chosen on validation scores.

    youden: maximise sensitivity + specificity − 1; sensitivity:X: the highest threshold whose
    sensitivity is at least X; specificity:X: the lowest threshold whose specificity is at least X.
    """

    kind: str = "youden"
    target: float = math.nan

    @classmethod
    def parse(cls, text: str) -> ThresholdRule:
        kind, _, value = text.partition(":")
        if kind not in THRESHOLD_RULES or (kind == "youden") != (value == ""):
            raise ValueError(f"threshold rule {text!r}: use youden, sensitivity:X or specificity:X")
        if kind == "youden":
            return cls()
        try:
            target = float(value)
        except ValueError:
            target = math.nan
        if not 0 < target <= 1:
            raise ValueError(f"threshold rule {text!r}: X must be a number in (0, 1]")
        return cls(kind, target)

    def __str__(self) -> str:
        return self.kind if self.kind == "youden" else f"{self.kind}:{self.target:g}"

    def choose(self, targets: np.ndarray, scores: np.ndarray) -> float:
        """The threshold on these scores (a score ≥ it is abnormal); NaN with one class only."""
        if targets.min() == targets.max():
            return math.nan
        fpr, tpr, thresholds = roc_curve(targets, scores, drop_intermediate=False)
        # roc_curve's first threshold is +inf (nothing called abnormal).
        thresholds = np.minimum(thresholds, 1.0)
        if self.kind == "youden":
            j = tpr - fpr
            return float(thresholds[np.flatnonzero(j == j.max())[0]])
        if self.kind == "sensitivity":
            return float(thresholds[np.flatnonzero(tpr >= self.target)[0]])
        return float(thresholds[np.flatnonzero(1 - fpr >= self.target)[-1]])


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int

    @staticmethod
    def _ratio(num: int, den: int) -> float:
        return num / den if den else math.nan

    @property
    def sensitivity(self) -> float:
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float:
        return self._ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def npv(self) -> float:
        return self._ratio(self.tn, self.tn + self.fn)


def operating_point(targets: np.ndarray, scores: np.ndarray, threshold: float) -> OperatingPoint:
    """Counts when a score ≥ `threshold` is called abnormal."""
    called = scores >= threshold
    tn, fp, fn, tp = confusion_matrix(targets.astype(bool), called, labels=[False, True]).ravel()
    return OperatingPoint(threshold, int(tp), int(fp), int(tn), int(fn))

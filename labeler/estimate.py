"""How sure a score is: 95% confidence intervals for `evaluate`, and population estimates from
a weighted (stratified) review sample.

- Precision, recall and accuracy are proportions: their interval is Wilson's score interval
  (good at 0.99 on 50 reports, where the normal approximation runs past 1).
- F1 and macro F1 are not proportions: a percentile bootstrap over reports, seeded.
- With a stratified sample (`cxrlabel review`'s sample.csv), every compared report stands for
  `stratum size / compared reports of its stratum` reports of the corpus; the estimates are
  the weighted scores. Precision, recall and accuracy get Wilson's interval with Kish's
  effective sample size (sum w)² / sum w², which, unlike a bootstrap, does not shrink to a
  point when the sample holds no error; F1 and macro F1 a bootstrap within strata. A review
  stopped half-way is fine: the weights are computed from the reports compared.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal
RESAMPLES = 2000


class SampleError(ValueError):
    """A sample file that does not fit the gold file; the message names the file."""


Interval = tuple[float, float]


def wilson(k: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson's score interval for k successes in n trials; None when n is 0."""
    return None if n == 0 else _wilson(k / n, n, z)


def _wilson(p: float, n: float, z: float = Z95) -> Interval:
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at p = 0 or 1 one end is exactly 0 or 1; floating point would miss it by an ulp
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return low, high


def weighted_wilson(p: float, weights: np.ndarray, z: float = Z95) -> Interval | None:
    """Wilson's interval for a weighted proportion p, with Kish's effective sample size
    (sum w)² / sum w² in place of n; None when there are no reports."""
    total = float(np.sum(weights))
    if total == 0:
        return None
    return _wilson(p, total * total / float(np.sum(np.square(weights))), z)


def _scores(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and accuracy from (weighted) counts, elementwise, with evaluate's
    conventions: nothing to find and nothing claimed scores 1; an empty denominator else 0."""
    tp, fp, fn, tn = (np.asarray(x, dtype=float) for x in (tp, fp, fn, tn))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        r = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        acc = (tp + tn) / (tp + fp + fn + tn)
    empty = tp + fp + fn == 0
    return {
        "precision": np.where(empty, 1.0, p),
        "recall": np.where(empty, 1.0, r),
        "f1": np.where(empty, 1.0, f),
        "accuracy": acc,
    }


def _cells(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(reports, regions, 4): tp, fp, fn, tn indicators."""
    t, p = y_true.astype(bool), y_pred.astype(bool)
    return np.stack([t & p, ~t & p, t & ~p, ~t & ~p], axis=-1).astype(float)


@dataclass(frozen=True)
class RegionIntervals:
    region: str
    precision: Interval | None
    recall: Interval | None
    f1: Interval
    accuracy: Interval


@dataclass(frozen=True)
class SampleIntervals:
    regions: tuple[RegionIntervals, ...]
    macro_f1: Interval
    resamples: int


def _percentiles(values: np.ndarray) -> np.ndarray:
    return np.percentile(values, [2.5, 97.5], axis=0)


def sample_intervals(
    y_true: pd.DataFrame, y_pred: pd.DataFrame, resamples: int = RESAMPLES, seed: int = 0
) -> SampleIntervals:
    """95% intervals of the scores on the compared reports (columns are regions)."""
    regions = list(y_true.columns)
    cells = _cells(y_true.to_numpy(), y_pred.to_numpy())
    n = len(cells)
    counts = cells.sum(axis=0)  # (regions, 4)
    rng = np.random.default_rng(seed)
    boot = cells[rng.integers(0, n, size=(resamples, n))].sum(axis=1)  # (B, regions, 4)
    f1 = _scores(*np.moveaxis(boot, -1, 0))["f1"]  # (B, regions)
    f1_ci = _percentiles(f1)
    macro_ci = _percentiles(f1.mean(axis=1))
    out = []
    for j, region in enumerate(regions):
        tp, fp, fn, tn = (int(x) for x in counts[j])
        out.append(
            RegionIntervals(
                region,
                wilson(tp, tp + fp),
                wilson(tp, tp + fn),
                (float(f1_ci[0, j]), float(f1_ci[1, j])),
                wilson(tp + tn, n),  # type: ignore[arg-type] - n > 0: evaluate compared some
            )
        )
    return SampleIntervals(tuple(out), (float(macro_ci[0]), float(macro_ci[1])), resamples)


@dataclass(frozen=True)
class PopulationScore:
    region: str
    precision: float
    recall: float
    f1: float
    accuracy: float
    precision_ci: Interval | None  # Wilson, Kish's effective n (None: nothing predicted)
    recall_ci: Interval | None  # (None: no gold positive compared)
    f1_ci: Interval  # bootstrap within strata
    accuracy_ci: Interval
    positives: float  # estimated gold positives in the corpus


@dataclass(frozen=True)
class Population:
    scores: tuple[PopulationScore, ...]
    macro_f1: float
    macro_f1_ci: Interval
    size: int  # corpus reports the compared strata stand for
    strata: int  # strata compared
    missing_strata: tuple[str, ...]  # strata of the sample with no compared report
    resamples: int


def read_sample(frame: pd.DataFrame, name: str) -> dict[str, tuple[str, int]]:
    """report id → (stratum, stratum size) from a review's sample.csv."""
    need = ["report_id", "stratum", "stratum_size"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise SampleError(f"{name}: no column {', '.join(missing)}; is it a review's sample.csv?")
    out = {}
    for i, row in enumerate(frame[need].itertuples(index=False)):
        try:
            size = int(row.stratum_size)
        except ValueError:
            raise SampleError(
                f"{name}: row {i + 2}: stratum_size {row.stratum_size!r} is not a number"
            ) from None
        out[str(row.report_id)] = (str(row.stratum), size)
    return out


def population_estimates(
    ids: Sequence[str],
    y_true: pd.DataFrame,
    y_pred: pd.DataFrame,
    sample: Mapping[str, tuple[str, int]],
    sample_name: str = "sample",
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Population:
    """Weighted scores on the corpus the stratified sample was drawn from, with 95% intervals
    from a bootstrap within strata."""
    unknown = [rid for rid in ids if rid not in sample]
    if unknown:
        raise SampleError(
            f"{sample_name}: {len(unknown)} compared reports are not in the sample, e.g. "
            f"{unknown[0]!r}; give the sample.csv of the review the gold file comes from"
        )
    regions = list(y_true.columns)
    cells = _cells(y_true.to_numpy(), y_pred.to_numpy())
    members: dict[str, list[int]] = {}
    for i, rid in enumerate(ids):
        members.setdefault(sample[rid][0], []).append(i)
    sizes = {stratum: size for stratum, size in sample.values()}
    rng = np.random.default_rng(seed)
    total = np.zeros(cells.shape[1:])
    boot = np.zeros((resamples, *cells.shape[1:]))
    for stratum in sorted(members):
        rows = np.asarray(members[stratum])
        weight = sizes[stratum] / len(rows)
        total += cells[rows].sum(axis=0) * weight
        draws = rows[rng.integers(0, len(rows), size=(resamples, len(rows)))]
        boot += cells[draws].sum(axis=1) * weight
    point = _scores(*np.moveaxis(total, -1, 0))
    boot_f1 = _scores(*np.moveaxis(boot, -1, 0))["f1"]
    f1_ci, macro = _percentiles(boot_f1), _percentiles(boot_f1.mean(axis=1))
    weights = np.zeros(len(ids))
    for stratum, rows in members.items():
        weights[rows] = sizes[stratum] / len(rows)
    scores = []
    for j, region in enumerate(regions):
        tp, fp, fn, _ = (cells[:, j, c].astype(bool) for c in range(4))
        scores.append(
            PopulationScore(
                region,
                *(float(point[m][j]) for m in ("precision", "recall", "f1", "accuracy")),
                weighted_wilson(float(point["precision"][j]), weights[tp | fp]),
                weighted_wilson(float(point["recall"][j]), weights[tp | fn]),
                (float(f1_ci[0, j]), float(f1_ci[1, j])),
                weighted_wilson(float(point["accuracy"][j]), weights),  # type: ignore[arg-type]
                float(total[j, 0] + total[j, 2]),
            )
        )
    return Population(
        tuple(scores),
        float(point["f1"].mean()),
        (float(macro[0]), float(macro[1])),
        sum(sizes[s] for s in members),
        len(members),
        tuple(sorted(set(sizes) - set(members))),
        resamples,
    )

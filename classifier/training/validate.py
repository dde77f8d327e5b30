"""Validation scores of one epoch: AUC per output and their mean over the scored labels.

Undefined values (a label with one class in validation) are NaN, never guessed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.metrics import roc_auc_score


def label_aucs(targets: np.ndarray, scores: np.ndarray, names: tuple[str, ...]) -> dict[str, float]:
    """AUC per column; a column with a single class has no AUC and gets NaN with a warning."""
    out = {}
    for j, name in enumerate(names):
        column = targets[:, j]
        if column.min() == column.max():
            warnings.warn(
                f"validation has only one class for {name!r}: AUC undefined, left out of the mean",
                stacklevel=2,
            )
            out[name] = math.nan
        else:
            out[name] = float(roc_auc_score(column, scores[:, j]))
    return out


def mean_auc(aucs: dict[str, float], names: tuple[str, ...]) -> float:
    """Mean over the defined AUCs of `names`; NaN when none is defined."""
    values = [aucs[n] for n in names if not math.isnan(aucs[n])]
    return sum(values) / len(values) if values else math.nan

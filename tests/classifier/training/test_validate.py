"""Validation AUCs per output and their mean, checked against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from classifier.training.validate import label_aucs, mean_auc

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0], dtype=float)
S = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7, 0.3, 0.05])


def test_label_aucs_match_scikit_learn_and_nan_for_one_class() -> None:
    targets = np.stack([Y, np.zeros_like(Y)], axis=1)
    scores = np.stack([S, S], axis=1)
    with pytest.warns(UserWarning, match="only one class for 'b'"):
        aucs = label_aucs(targets, scores, ("a", "b"))
    assert aucs["a"] == pytest.approx(roc_auc_score(Y, S))
    assert math.isnan(aucs["b"])


def test_mean_auc_leaves_undefined_labels_out() -> None:
    assert mean_auc({"a": 0.8, "b": math.nan, "c": 0.6}, ("a", "b", "c")) == pytest.approx(0.7)
    assert mean_auc({"a": 0.8, "b": 0.2}, ("b",)) == pytest.approx(0.2)
    assert math.isnan(mean_auc({"a": math.nan}, ("a",)))

"""AUC, patient-level bootstrap CIs, threshold rules and operating points, checked against
scikit-learn and hand counts on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from classifier.evaluation.metrics import (
    OperatingPoint,
    ThresholdRule,
    bootstrap_aucs,
    operating_point,
    patient_weights,
    percentile_interval,
)

Y = np.array([0, 0, 1, 1, 0, 1, 0, 1, 1, 0], dtype=float)
S = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.7, 0.3, 0.05])
PATIENTS = np.array(["a", "a", "b", "c", "d", "d", "e", "f", "g", "h"])


def test_patient_weights_count_how_often_each_patient_was_drawn() -> None:
    weights = patient_weights(PATIENTS, 50, np.random.default_rng(3))
    # Films of one patient always share a weight; each sample draws 8 patients.
    assert (weights[:, 0] == weights[:, 1]).all() and (weights[:, 4] == weights[:, 5]).all()
    per_patient = weights[:, [0, 2, 3, 4, 6, 7, 8, 9]]
    assert (per_patient.sum(axis=1) == 8).all()


def test_bootstrap_equals_resampling_films_by_patient_with_scikit_learn() -> None:
    reps = 200
    boot = bootstrap_aucs(Y[:, None], S[:, None], PATIENTS, reps, seed=7)
    # The same draws, done the slow way: repeat each drawn patient's films, then AUC.
    rng = np.random.default_rng(7)
    names, codes = np.unique(PATIENTS, return_inverse=True)
    draws = rng.integers(0, len(names), size=(reps, len(names)))
    expected = []
    for row in draws:
        films = np.concatenate([np.flatnonzero(codes == p) for p in row])
        y = Y[films]
        expected.append(roc_auc_score(y, S[films]) if 0 < y.sum() < len(y) else math.nan)
    np.testing.assert_allclose(boot[:, 0], expected, equal_nan=True)
    interval = percentile_interval(boot[:, 0], 0.95)
    defined = np.array([e for e in expected if not math.isnan(e)])
    assert interval.replicates == len(defined)
    low, high = np.percentile(defined, [2.5, 97.5])
    assert (interval.low, interval.high) == pytest.approx((low, high))


def test_percentile_interval_of_nothing_is_undefined() -> None:
    interval = percentile_interval(np.array([math.nan, math.nan]))
    assert math.isnan(interval.low) and interval.replicates == 0


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # Youden: at 0.7 sensitivity 3/5, specificity 5/5 (J 0.6); at 0.3 5/5 and 3/5 (J 0.6);
        # ties go to the higher threshold.
        ("youden", 0.7),
        ("sensitivity:1", 0.3),  # the highest threshold that still calls all five positives
        ("sensitivity:0.8", 0.35),
        ("specificity:1", 0.7),  # the lowest threshold with no false positive
        ("specificity:0.8", 0.6),  # one false positive (0.6) of five negatives
    ],
)
def test_threshold_rules_on_validation_scores(rule: str, expected: float) -> None:
    assert ThresholdRule.parse(rule).choose(Y, S) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["youden:0.5", "sensitivity", "sensitivity:1.5", "f1", "spec:x"])
def test_bad_threshold_rules_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="threshold rule"):
        ThresholdRule.parse(text)


def test_threshold_is_undefined_with_one_class() -> None:
    assert math.isnan(ThresholdRule().choose(np.zeros(4), np.arange(4) / 4))


def test_operating_point_counts_and_rates() -> None:
    point = operating_point(Y, S, 0.35)
    assert point == OperatingPoint(0.35, tp=4, fp=2, tn=3, fn=1)
    assert point.sensitivity == 4 / 5 and point.specificity == 3 / 5
    assert point.ppv == 4 / 6 and point.npv == 3 / 4
    nothing = operating_point(Y, S, 1.0)
    assert nothing.tp == nothing.fp == 0 and math.isnan(nothing.ppv)

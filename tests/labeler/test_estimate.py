"""Confidence intervals against hand computations, and population estimates from strata."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from labeler.estimate import SampleError, population_estimates, sample_intervals, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # p = 0.8, z² = 3.8415: centre (0.8 + 0.19207) / 1.38415 = 0.71674,
        # half 1.41603 × sqrt(0.016 + 0.0096037) = 0.22658
        (8, 10, 0.49016, 0.94332),
        # all right: the interval still leaves room below 1: (0 + z²/2n)... low = n / (n + z²)
        (50, 50, 50 / (50 + 1.959963984540054**2), 1.0),
        (0, 20, 0.0, 3.8414588 / (20 + 3.8414588)),
    ],
)
def test_wilson_matches_the_hand_computation(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-5) and hi == pytest.approx(high, abs=1e-5)


def test_wilson_of_nothing_is_none():
    assert wilson(0, 0) is None


def frames(true, pred, regions=("lungs",)):
    return (
        pd.DataFrame(np.array(true).reshape(len(true), -1), columns=list(regions)),
        pd.DataFrame(np.array(pred).reshape(len(pred), -1), columns=list(regions)),
    )


def test_sample_intervals_use_wilson_for_proportions_and_contain_the_f1():
    y_true, y_pred = frames([1] * 9 + [0] * 11, [1] * 8 + [0] * 12)  # tp 8, fn 1, tn 11
    ci = sample_intervals(y_true, y_pred, resamples=500, seed=0).regions[0]
    assert ci.precision == wilson(8, 8) and ci.recall == wilson(8, 9)
    assert ci.accuracy == wilson(19, 20)
    f1 = 16 / 17
    assert ci.f1[0] < f1 <= ci.f1[1] <= 1.0


def test_sample_intervals_of_perfect_agreement_collapse():
    y_true, y_pred = frames([1, 0, 1, 0], [1, 0, 1, 0])
    result = sample_intervals(y_true, y_pred, resamples=200)
    assert result.regions[0].f1 == (1.0, 1.0) and result.macro_f1 == (1.0, 1.0)


def test_population_estimate_weights_each_stratum_by_its_size():
    # stratum A: 100 reports, two read (a tp and a tn): weight 50 each;
    # stratum B: 10 reports, two read (a fn and a tp): weight 5 each.
    ids = ["a1", "a2", "b1", "b2"]
    y_true, y_pred = frames([1, 0, 1, 1], [1, 0, 0, 1])
    sample = {"a1": ("A", 100), "a2": ("A", 100), "b1": ("B", 10), "b2": ("B", 10)}
    pop = population_estimates(ids, y_true, y_pred, sample, resamples=500)
    s = pop.scores[0]
    # weighted tp 50 + 5 = 55, fn 5, tn 50, fp 0
    assert s.recall == pytest.approx(55 / 60)
    assert s.precision == 1.0
    assert s.accuracy == pytest.approx(105 / 110)
    assert s.f1 == pytest.approx(110 / 115)
    assert s.positives == pytest.approx(60)
    assert pop.size == 110 and pop.strata == 2 and pop.missing_strata == ()
    # recall over the three gold positives (weights 50, 5, 5): Kish n = 60² / 2550 = 1.41
    assert s.recall_ci == pytest.approx(wilson_of(55 / 60, 3600 / 2550), abs=1e-9)
    assert s.accuracy_ci == pytest.approx(wilson_of(105 / 110, 12100 / 5050), abs=1e-9)
    # unweighted, the same four reports give recall 2/3: the weights matter
    assert sample_intervals(y_true, y_pred).regions[0].recall[0] < 2 / 3 < s.recall


def wilson_of(p, n, z=1.959963984540054):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return (centre - half, min(1.0, centre + half))


def test_population_interval_of_an_error_free_sample_is_no_point():
    ids = [f"r{i}" for i in range(20)]
    y_true, y_pred = frames([1, 0] * 10, [1, 0] * 10)
    sample = {rid: ("A" if i < 10 else "B", 100 if i < 10 else 10) for i, rid in enumerate(ids)}
    s = population_estimates(ids, y_true, y_pred, sample, resamples=200).scores[0]
    assert s.accuracy == 1.0 and s.accuracy_ci[1] == 1.0
    assert s.accuracy_ci[0] < 0.9  # 20 reports, but the weights leave fewer effective ones


def test_population_names_strata_with_nothing_compared():
    y_true, y_pred = frames([1], [1])
    pop = population_estimates(["a"], y_true, y_pred, {"a": ("A", 5), "z": ("Z", 9)})
    assert pop.missing_strata == ("Z",) and pop.size == 5


def test_population_needs_every_compared_report_in_the_sample():
    y_true, y_pred = frames([1], [1])
    with pytest.raises(SampleError, match=re.escape("1 compared reports are not in the sample")):
        population_estimates(["q"], y_true, y_pred, {"a": ("A", 5)})

"""Label-tree confidence (paper 003): hand-computed histograms, posteriors and decisions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from classifier.inference.labeltree import (
    FORMAT,
    FORMAT_VERSION,
    ROOT_MAX_REGION,
    ROOT_NORMAL_OUTPUT,
    LabelTree,
    ScoreHistogram,
    TreeDecision,
    decide,
    fit_histogram,
    fit_tree,
    posteriors,
    root_scores,
)
from labeler.packs import region_ids

REGIONS = region_ids()
K = len(REGIONS)
EDGES4 = (0.0, 0.25, 0.5, 0.75, 1.0)

# --- one label, bins=4 -------------------------------------------------------------------------
# 6 positives with bin counts [0, 1, 2, 3] (1.0 falls in the last bin), 4 negatives with counts
# [2, 1, 1, 0] (0.25 and 0.5 sit on edges and go to the bin above).
HEART_SCORES = [0.3, 0.55, 0.6, 0.8, 0.9, 1.0, 0.0, 0.1, 0.25, 0.5]
HEART_TARGETS = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
P_POS = ((0 + 1) / (6 + 4), (1 + 1) / (6 + 4), (2 + 1) / (6 + 4), (3 + 1) / (6 + 4))
P_NEG = ((2 + 1) / (4 + 4), (1 + 1) / (4 + 4), (1 + 1) / (4 + 4), (0 + 1) / (4 + 4))
PRIOR = 6 / 10


def bayes(prior: float, p_pos: float, p_neg: float) -> float:
    return prior * p_pos / (prior * p_pos + (1 - prior) * p_neg)


def test_fit_histogram_counts_smoothed_by_hand():
    h = fit_histogram(np.array(HEART_SCORES), np.array(HEART_TARGETS), bins=4, name="heart")
    assert h.edges == EDGES4
    assert h.positive == pytest.approx(P_POS)
    assert h.negative == pytest.approx(P_NEG)
    assert h.prior == pytest.approx(PRIOR)
    assert (h.n_positive, h.n_negative) == (6, 4)
    assert math.fsum(h.positive) == pytest.approx(1.0)
    assert math.fsum(h.negative) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("score", "bin_"),
    [
        (0.9, 3),
        (1.0, 3),  # the last bin is closed
        (1.7, 3),  # clipped to 1
        (0.1, 0),
        (-0.3, 0),  # clipped to 0
        (0.25, 1),  # an edge belongs to the bin above it
        (0.6, 2),
    ],
)
def test_posterior_by_hand(score, bin_):
    h = fit_histogram(np.array(HEART_SCORES), np.array(HEART_TARGETS), bins=4, name="heart")
    expected = bayes(PRIOR, P_POS[bin_], P_NEG[bin_])
    assert h.posterior(np.array([score]))[0] == pytest.approx(expected)


def test_posterior_of_a_top_score_written_out():
    h = fit_histogram(np.array(HEART_SCORES), np.array(HEART_TARGETS), bins=4, name="heart")
    expected = (6 / 10 * 4 / 10) / (6 / 10 * 4 / 10 + 4 / 10 * 1 / 8)  # = 24/29
    assert h.posterior(np.array([0.9])) == pytest.approx([expected])
    assert expected == pytest.approx(24 / 29)


@pytest.mark.parametrize(
    ("targets", "missing"), [([0, 0, 0], "positives"), ([1, 1, 1], "negatives")]
)
def test_single_class_label_is_named(targets, missing):
    with pytest.raises(ValueError, match=rf"label 'lungs' has no {missing}"):
        fit_histogram(np.array([0.2, 0.5, 0.9]), np.array(targets), bins=4, name="lungs")


def test_fit_histogram_rejects_non_binary_targets_and_nan_scores():
    with pytest.raises(ValueError, match="0 or 1"):
        fit_histogram(np.array([0.2, 0.9]), np.array([0.0, np.nan]), name="heart")
    with pytest.raises(ValueError, match="NaN"):
        fit_histogram(np.array([np.nan, 0.9]), np.array([0, 1]), name="heart")


def test_histogram_rejects_a_zero_bin():
    with pytest.raises(ValueError, match="> 0"):
        ScoreHistogram(EDGES4, (0.0, 0.5, 0.25, 0.25), (0.25,) * 4, 0.5, 4, 4)


# --- root score -----------------------------------------------------------------------------------


def test_root_score_is_max_region_without_normal_output():
    scores = np.array([[0.1, 0.7, 0.3], [0.2, 0.2, 0.4]])
    assert root_scores(scores, None) == pytest.approx([0.7, 0.4])


def test_root_score_is_one_minus_normal_with_normal_output():
    scores = np.array([[0.1, 0.7, 0.3], [0.2, 0.2, 0.4]])
    assert root_scores(scores, np.array([0.25, 0.9])) == pytest.approx([0.75, 0.1])


# --- the tree -----------------------------------------------------------------------------------
# Film i < K has region i positive at 0.9 and the rest negative at 0.1; film K is normal at 0.1
# everywhere; film K + 1 is normal with a false alarm of 0.6 in the first region.


def tree_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.full((K + 2, K), 0.1)
    targets = np.zeros((K + 2, K))
    for i in range(K):
        scores[i, i] = 0.9
        targets[i, i] = 1
    scores[K + 1, 0] = 0.6
    normal = np.array([0.2] * K + [0.9, 0.7])
    return scores, targets, normal


def test_fit_tree_max_rule_by_hand():
    scores, targets, _ = tree_data()
    tree = fit_tree(scores, targets, REGIONS, bins=4)
    assert tree.regions == REGIONS
    assert tree.root_rule == ROOT_MAX_REGION
    # Root: K abnormal films with max 0.9 (bin 3); normal films with max 0.1 (bin 0), 0.6 (bin 2).
    n = K + 4
    assert tree.root.positive == pytest.approx((1 / n, 1 / n, 1 / n, (K + 1) / n))
    assert tree.root.negative == pytest.approx(((1 + 1) / 6, 1 / 6, (1 + 1) / 6, 1 / 6))
    assert tree.root.prior == pytest.approx(K / (K + 2))
    # First region: one positive in bin 3; K + 1 negatives: K at 0.1, the false alarm at 0.6.
    first = tree.histogram(REGIONS[0])
    assert first.positive == pytest.approx((1 / 5, 1 / 5, 1 / 5, (1 + 1) / 5))
    m = K + 1 + 4
    assert first.negative == pytest.approx(((K + 1) / m, 1 / m, (1 + 1) / m, 1 / m))
    assert first.prior == pytest.approx(1 / (K + 2))
    # Last region: every negative at 0.1.
    last = tree.histogram(REGIONS[-1])
    assert last.negative == pytest.approx(((K + 1 + 1) / m, 1 / m, 1 / m, 1 / m))


def test_fit_tree_normal_output_rule_by_hand():
    scores, targets, normal = tree_data()
    tree = fit_tree(scores, targets, REGIONS, normal_scores=normal, bins=4)
    assert tree.root_rule == ROOT_NORMAL_OUTPUT
    # Root scores 1 - normal: abnormal films 0.8 (bin 3); normal films 0.1 (bin 0), 0.3 (bin 1).
    assert tree.root.negative == pytest.approx(((1 + 1) / 6, (1 + 1) / 6, 1 / 6, 1 / 6))
    root, _ = posteriors(tree, scores[:1], normal[:1])
    n = K + 4
    assert root == pytest.approx([bayes(K / (K + 2), (K + 1) / n, 1 / 6)])


def test_fit_tree_keeps_the_region_names_it_is_given():
    scores, targets, _ = tree_data()
    names = tuple(f"r{j}" for j in range(len(REGIONS)))
    assert fit_tree(scores, targets, names, bins=4).regions == names


def test_fit_tree_names_a_single_class_region():
    scores, targets, _ = tree_data()
    targets[:, 2] = 0
    with pytest.raises(ValueError, match=rf"{REGIONS[2]!r} has no positives"):
        fit_tree(scores, targets, REGIONS, bins=4)


def test_posteriors_by_hand_and_rule_mismatch():
    scores, targets, normal = tree_data()
    tree = fit_tree(scores, targets, REGIONS, bins=4)
    root, regions = posteriors(tree, scores[:1])
    assert root == pytest.approx([bayes(K / (K + 2), (K + 1) / (K + 4), 1 / 6)])
    m = K + 5
    assert regions.shape == (1, K)
    assert regions[0, 0] == pytest.approx(bayes(1 / (K + 2), 2 / 5, 1 / m))
    assert regions[0, 1] == pytest.approx(bayes(1 / (K + 2), 1 / 5, (K + 2) / m))
    with pytest.raises(ValueError, match="without a 'normal' output"):
        posteriors(tree, scores, normal)
    with_normal = fit_tree(scores, targets, REGIONS, normal_scores=normal, bins=4)
    with pytest.raises(ValueError, match="pass normal_scores"):
        posteriors(with_normal, scores)


# --- serialisation ------------------------------------------------------------------------------


def test_round_trip_through_json():
    scores, targets, normal = tree_data()
    tree = fit_tree(scores, targets, REGIONS, normal_scores=normal, bins=4)
    data = json.loads(json.dumps(tree.to_dict()))
    assert data["format"] == FORMAT == "cxrclf-label-tree"
    assert data["version"] == FORMAT_VERSION == 1
    assert all(type(p) is float for p in data["root"]["positive"])
    assert LabelTree.from_dict(data) == tree


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="cxrclf-checkpoint"), "not a label tree"),
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d.pop("root"), r"missing keys \['root'\]"),
        (lambda d: d["children"].pop(REGIONS[1]), "one entry per region"),
        (lambda d: d["root"].pop("prior"), r"root has missing keys \['prior'\]"),
        (lambda d: d["root"].update(prior="0.5"), "root.prior must be a number"),
        (lambda d: d.update(extra=1), r"unknown keys \['extra'\]"),
    ],
)
def test_from_dict_rejects_bad_data(edit, message):
    scores, targets, _ = tree_data()
    data = json.loads(json.dumps(fit_tree(scores, targets, REGIONS, bins=4).to_dict()))
    edit(data)
    with pytest.raises(ValueError, match=message):
        LabelTree.from_dict(data)


def test_from_dict_rejects_a_non_mapping():
    with pytest.raises(ValueError, match="not a label tree"):
        LabelTree.from_dict([1, 2])


# --- decisions ----------------------------------------------------------------------------------
# A sharp literal histogram from 16 positives all in bin 3 and 16 negatives all in bin 0: the
# posterior is 17/18 in bin 3, 1/18 in bin 0 and 1/2 in bins 1 and 2.
SHARP = ScoreHistogram(
    edges=EDGES4,
    positive=(1 / 20, 1 / 20, 1 / 20, (16 + 1) / (16 + 4)),
    negative=((16 + 1) / (16 + 4), 1 / 20, 1 / 20, 1 / 20),
    prior=16 / 32,
    n_positive=16,
    n_negative=16,
)


def sharp_tree(rule: str) -> LabelTree:
    return LabelTree(regions=REGIONS, root=SHARP, children=(SHARP,) * K, root_rule=rule)


def film(scores: dict[int, float] | None = None) -> list[float]:
    """Region scores in pack order: 0.1 (confidently normal) except {region index: score}."""
    row = [0.1] * K
    for index, value in (scores or {}).items():
        row[index] = value
    return row


def test_sharp_posteriors_by_hand():
    assert SHARP.posterior(np.array([0.9, 0.1, 0.3, 0.6])) == pytest.approx(
        [17 / 18, 1 / 18, 1 / 2, 1 / 2]
    )


def test_decide_covers_the_four_film_outcomes_at_0_9():
    tree = sharp_tree(ROOT_NORMAL_OUTPUT)
    scores = np.array(
        [
            film({1: 0.9, 2: 0.6}),  # a confident region
            film(),  # nothing abnormal, normal output says normal
            film({1: 0.6}),  # one undecided region, root undecided too
            film({1: 0.6, 2: 0.4}),  # no confident region but a confident root: climb
        ]
    )
    normal = np.array([0.05, 0.95, 0.4, 0.1])  # root scores 0.95, 0.05, 0.6, 0.9
    assert decide(tree, scores, 0.9, normal) == [
        TreeDecision((REGIONS[1],), (REGIONS[2],), "abnormal"),
        TreeDecision((), (), "normal"),
        TreeDecision((), (REGIONS[1],), "uncertain"),
        TreeDecision((), (REGIONS[1], REGIONS[2]), "abnormal, region uncertain"),
    ]


def test_a_confident_region_wins_over_a_normal_root():
    tree = sharp_tree(ROOT_NORMAL_OUTPUT)
    [decision] = decide(tree, np.array([film({0: 0.9})]), 0.9, np.array([0.95]))
    assert decision == TreeDecision((REGIONS[0],), (), "abnormal")


def test_decide_with_the_max_rule():
    tree = sharp_tree(ROOT_MAX_REGION)
    decisions = decide(tree, np.array([film({K - 1: 1.0}), film(), film({K - 1: 0.5})]), 0.9)
    assert [d.film for d in decisions] == ["abnormal", "normal", "uncertain"]
    assert decisions[0].abnormal_regions == (REGIONS[-1],)


def test_threshold_one_is_never_confident():
    tree = sharp_tree(ROOT_MAX_REGION)
    [decision] = decide(tree, np.array([film({0: 0.9})]), 1.0)
    assert decision == TreeDecision((), REGIONS, "uncertain")


@pytest.mark.parametrize("threshold", [0.5, 0.3, 0.0, 1.01, math.nan, True, "0.9"])
def test_threshold_must_be_above_one_half_and_at_most_one(threshold):
    with pytest.raises(ValueError, match=r"\(0.5, 1\]"):
        decide(sharp_tree(ROOT_MAX_REGION), np.array([film()]), threshold)

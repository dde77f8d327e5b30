"""Agreement between two reviewers: kappa as scikit-learn computes it, raw agreement, the
differences, and refusals."""

from __future__ import annotations

import math
import random
import warnings

import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labeler.agree import AgreeError, agree, cohen_kappa

REGIONS = ["thorax", "lungs"]
STATES = ["positive", "uncertain", "negative", "not_mentioned"]


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_scikit_learn(seed):
    rng = random.Random(seed)
    a = [rng.choice(STATES) for _ in range(60)]
    b = [x if rng.random() < 0.7 else rng.choice(STATES) for x in a]
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_kappa_of_one_shared_category_is_undefined_like_scikit_learn():
    a = ["negative"] * 5
    assert math.isnan(cohen_kappa(a, a))
    with warnings.catch_warnings():  # scikit-learn warns that kappa is undefined here
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score(a, a))


def gold(rows):
    return pd.DataFrame(rows, columns=["report_id", "thorax_state", "lungs_state", "note"]).astype(
        str
    )


def test_agree_per_region_on_states_and_labels():
    a = gold(
        [
            ("r1", "negative", "positive", ""),
            ("r2", "negative", "uncertain", "hedged"),
            ("r3", "positive", "negative", ""),
            ("r4", "not_mentioned", "negative", ""),
            ("only_a", "negative", "negative", ""),
        ]
    )
    b = gold(
        [
            ("r4", "negative", "negative", ""),
            ("r3", "positive", "negative", ""),
            ("r2", "negative", "positive", ""),
            ("r1", "negative", "positive", ""),
        ]
    )
    result = agree(a, b, REGIONS)
    assert result.compared == 4 and result.only_in_a == ("only_a",) and result.only_in_b == ()
    thorax, lungs = result.regions
    sa, sb = (
        ["negative", "negative", "positive", "not_mentioned"],
        ["negative"] * 2
        + [
            "positive",
            "negative",
        ],
    )
    assert thorax.kappa == pytest.approx(cohen_kappa_score(sa, sb))
    assert thorax.agreement == 0.75
    assert thorax.kappa_binary == 1.0 and thorax.agreement_binary == 1.0
    la, lb = ["positive", "uncertain", "negative", "negative"], ["positive"] * 2 + ["negative"] * 2
    assert lungs.kappa == pytest.approx(cohen_kappa_score(la, lb))
    assert lungs.kappa_binary == 1.0  # uncertain and positive are both 1
    assert [
        (d.report_id, d.region, d.state_a, d.state_b, d.note_a) for d in result.differences
    ] == [
        ("r2", "lungs", "uncertain", "positive", "hedged"),
        ("r4", "thorax", "not_mentioned", "negative", ""),
    ]
    assert [d.changes_label for d in result.differences] == [False, False]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"id": ["a"]}), "a: no report_id column"),
        (pd.DataFrame({"report_id": ["a"], "thorax_state": ["negative"]}), "no column lungs_state"),
        (
            gold([("a", "negative", "bad", "")]),
            "a: row 2: lungs_state='bad' is not one of",
        ),
        (
            gold([("a", "negative", "negative", "")] * 2),
            "a: report_id 'a' appears more than once",
        ),
    ],
)
def test_agree_refuses_files_it_cannot_compare(frame, message):
    ok = gold([("a", "negative", "negative", "")])
    with pytest.raises(AgreeError, match=message):
        agree(frame, ok, REGIONS)


def test_agree_needs_a_shared_report():
    with pytest.raises(AgreeError, match="share no report_id"):
        agree(
            gold([("a", "negative", "negative", "")]),
            gold([("b", "negative", "negative", "")]),
            REGIONS,
        )

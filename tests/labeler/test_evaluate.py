import pandas as pd
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from labeler.evaluate import GoldError, evaluate

REGIONS = ["thorax", "lungs"]


def frame(rows):
    return pd.DataFrame(rows, columns=["report_id", "thorax", "lungs"]).astype(str)


def test_scores_match_scikit_learn():
    gold = frame([("a", 1, 1), ("b", 0, 1), ("c", 0, 0), ("d", 1, 0)])
    labels = frame([("d", 1, 1), ("c", 0, 0), ("b", 1, 1), ("a", 0, 1), ("z", 0, 0)])
    result = evaluate(labels, gold, REGIONS)
    y_true, y_pred = [1, 0, 0, 1], [0, 1, 0, 1]
    thorax = result.scores[0]
    assert thorax.precision == pytest.approx(precision_score(y_true, y_pred))
    assert thorax.recall == pytest.approx(recall_score(y_true, y_pred))
    assert thorax.f1 == pytest.approx(f1_score(y_true, y_pred))
    assert (thorax.tp, thorax.fp, thorax.fn, thorax.tn) == (1, 1, 1, 1)
    assert result.compared == 4 and result.missing_in_gold == ("z",)
    assert [(d.report_id, d.region) for d in result.disagreements] == [
        ("a", "thorax"),
        ("b", "thorax"),
        ("d", "lungs"),
    ]


def test_region_with_no_positives_anywhere_is_perfect():
    gold = frame([("a", 0, 1)])
    result = evaluate(frame([("a", 0, 1)]), gold, REGIONS)
    assert result.scores[0].f1 == 1.0 and result.macro_f1 == 1.0


def test_non_binary_labels_are_refused():
    with pytest.raises(GoldError, match=r"labels: report a: thorax='-1' is not 0/1"):
        evaluate(frame([("a", -1, 1)]), frame([("a", 0, 1)]), REGIONS)


def test_duplicate_ids_are_refused():
    with pytest.raises(GoldError, match="gold: report_id 'a' appears more than once"):
        evaluate(frame([("a", 0, 1)]), frame([("a", 0, 1), ("a", 1, 1)]), REGIONS)

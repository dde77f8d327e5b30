"""Issue 13 (small datasets): bootstrap CIs on a split too small to have both classes are shown
as undefined with the counts, in metrics.md, metrics.json and on screen, never as 0.0000."""

from __future__ import annotations

import json
import math

import numpy as np

from classifier.evaluation.evaluate import score_metrics
from classifier.evaluation.metrics import Interval
from classifier.evaluation.report import Evaluation, render_markdown, summary_lines


def _evaluation(targets: np.ndarray) -> Evaluation:
    scores = np.array([[0.2, 0.9], [0.4, 0.1], [0.7, 0.3]])
    regions = ("lungs", "heart")
    results, mean, mean_ci = score_metrics(
        targets, scores, np.array(["p1", "p2", "p3"]), regions, dict.fromkeys(regions, 0.5), 50
    )
    return Evaluation(
        "best.pt", "resnet34", 3, "test", 3, 3, "youden", 0.95, 50, results, mean, mean_ci
    )


def test_undefined_bootstrap_ci_one_class_split() -> None:
    e = _evaluation(np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]))
    assert math.isnan(e.mean_auc)
    assert summary_lines(e) == [
        "test: mean AUC undefined (n_pos=3, n_neg=3) over 3 films",
        "lungs: AUC undefined (n_pos=0, n_neg=3)",
        "heart: AUC undefined (n_pos=3, n_neg=0)",
    ]
    rows = render_markdown(e).splitlines()[-3:]
    assert rows == [
        "| lungs | 0 | 3 | undefined (n_pos=0, n_neg=3) | undefined | 0.500 | – | 0.667 | 0.000 "
        "| 1.000 |",
        "| heart | 3 | 0 | undefined (n_pos=3, n_neg=0) | undefined | 0.500 | 0.333 | – | 1.000 "
        "| 0.000 |",
        "| **mean** | | | **undefined (n_pos=3, n_neg=3)** | undefined | | | | | |",
    ]
    assert "0.0000" not in "\n".join(summary_lines(e)) + render_markdown(e)
    data = json.loads(json.dumps(e.to_dict()))
    assert data["mean_auc"] is None and data["mean_ci_low"] is None
    assert (data["positives"], data["negatives"], data["mean_ci_replicates"]) == (3, 3, 0)
    lungs = data["regions"]["lungs"]
    assert (lungs["auc"], lungs["ci_low"], lungs["ci_high"]) == (None, None, None)
    assert (lungs["positives"], lungs["negatives"], lungs["ci_replicates"]) == (0, 3, 0)


def test_undefined_bootstrap_ci_defined_auc_keeps_numbers() -> None:
    e = _evaluation(np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]))
    assert summary_lines(e)[0].startswith("test: mean AUC 1.0000 (95% CI ")
    assert len(summary_lines(e)) == 1
    e = Evaluation(**{**e.__dict__, "mean_ci": Interval(math.nan, math.nan, 0)})
    assert summary_lines(e)[0] == (
        "test: mean AUC 1.0000 (95% CI undefined (n_pos=2, n_neg=4)) over 3 films"
    )

"""The labeler against the hand-checked gold sets: bundled examples and held-out wording."""

from pathlib import Path

import pandas as pd
import pytest

from labeler.evaluate import evaluate
from labeler.io import label_columns, label_row, read_reports

SETS = [
    ("examples/reports.csv", "examples/gold.csv", 0.99),
    ("tests/data/labeler/heldout_reports.csv", "tests/data/labeler/heldout_gold.csv", 0.95),
    ("tests/data/labeler/heldout2_reports.csv", "tests/data/labeler/heldout2_gold.csv", 0.90),
]


@pytest.mark.parametrize(("reports", "gold", "floor"), SETS, ids=[s[0] for s in SETS])
def test_macro_f1(base_labeler, reports, gold, floor):
    if not Path(reports).exists():
        pytest.skip(f"{reports} not present")
    rows = [label_row(base_labeler.label(r)) for r in read_reports(reports)]
    labels = pd.DataFrame(rows, columns=label_columns(base_labeler.regions)).astype(str)
    result = evaluate(
        labels, pd.read_csv(gold, dtype=str, keep_default_na=False), list(base_labeler.regions)
    )
    assert result.compared == len(rows)
    assert result.macro_f1 >= floor, [
        (d.report_id, d.region, d.gold_state, d.predicted_state) for d in result.disagreements
    ]

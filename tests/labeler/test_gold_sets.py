"""The labeler against the hand-checked gold sets: bundled examples and held-out wording."""

import pandas as pd
import pytest

from labeler.evaluate import evaluate
from labeler.io import label_columns, label_row, read_reports

SETS = [
    ("examples/reports.csv", "examples/gold.csv", 0.99),
    *(
        (f"tests/data/labeler/{name}_reports.csv", f"tests/data/labeler/{name}_gold.csv", 0.99)
        for name in (
            "heldout",
            "heldout2",
            "heldout3",
            "heldout4",
            "heldout5",
            "heldout6",
            "heldout7",
            "heldout8",
            "heldout9",
            "heldout10",
            "heldout11",
            "heldout12",
            "heldout13",
            "heldout14",
            "heldout15",
            "heldout16",
            "heldout17",
            "heldout18",
        )
    ),
]


@pytest.mark.parametrize(("reports", "gold", "floor"), SETS, ids=[s[0] for s in SETS])
def test_macro_f1(base_labeler, reports, gold, floor):
    rows = [label_row(base_labeler.label(r)) for r in read_reports(reports)]
    labels = pd.DataFrame(rows, columns=label_columns(base_labeler.regions)).astype(str)
    result = evaluate(
        labels, pd.read_csv(gold, dtype=str, keep_default_na=False), list(base_labeler.regions)
    )
    assert result.compared == len(rows)
    assert result.macro_f1 >= floor, [
        (d.report_id, d.region, d.gold_state, d.predicted_state) for d in result.disagreements
    ]

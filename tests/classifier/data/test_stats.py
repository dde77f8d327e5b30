import numpy as np

from classifier.data.stats import RegionCount, render_balance, render_table1, table1
from labeler.packs import region_ids

REGIONS = region_ids()


def test_table1_counts_overlap_with_other_regions():
    labels = np.array(
        [
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0],  # thorax with lungs
            [1, 0, 0, 0, 0],  # thorax alone
            [0, 1, 1, 1, 0],
            [0, 0, 0, 0, 1],
        ]
    )
    table = table1(labels, REGIONS)
    assert (table.films, table.normal) == (6, 2)
    assert table.regions == (
        RegionCount(REGIONS[0], 2, 1),
        RegionCount(REGIONS[1], 2, 2),
        RegionCount(REGIONS[2], 1, 1),
        RegionCount(REGIONS[3], 1, 1),
        RegionCount(REGIONS[4], 1, 0),
    )
    assert table.regions[0].rate == 0.5
    assert table.share(REGIONS[1]) == 2 / 6


def test_paper_row_renders_like_table_1():
    # The paper's thorax row: 35 films, 33 also abnormal elsewhere, 94.3%.
    labels = np.zeros((35, 5), dtype=int)
    labels[:, 0] = 1
    labels[:33, 1] = 1
    text = render_table1("all", table1(labels, REGIONS))
    assert f"| {REGIONS[0]} | 35 | 33 | 94.3% | 100.0% |" in text
    assert "| normal | 0 |" in text


def test_empty_split_renders():
    text = render_table1("test", table1(np.zeros((0, 5)), REGIONS))
    assert "(0 films)" in text and "| normal | 0 |" in text


def test_balance_table_mentions_short_regions():
    before = table1(np.array([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]), REGIONS)
    after = table1(np.array([[1, 0, 0, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0]]), REGIONS)
    text = render_balance(before, after, 0.7, [REGIONS[0]])
    assert f"| {REGIONS[0]} | 1 | 50.0% | 2 | 66.7% |" in text
    assert "| examples | 2 | | 3 | |" in text
    assert f"Still under the target (growth cap reached): {REGIONS[0]}." in text

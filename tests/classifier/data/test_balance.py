import numpy as np
import pytest

from classifier.data.balance import balance
from labeler.packs import region_ids

REGIONS = region_ids()


def paper_like(films: int = 1000, seed: int = 0) -> np.ndarray:
    """Region prevalences near the paper's Table 1: thorax and diaphragm rare."""
    rng = np.random.default_rng(seed)
    return (rng.random((films, 5)) < [0.02, 0.4, 0.42, 0.12, 0.03]).astype(int)


def shares(labels: np.ndarray, copies: np.ndarray) -> np.ndarray:
    weights = 1 + copies
    return (labels * weights[:, None]).sum(axis=0) / weights.sum()


def test_every_region_reaches_the_target():
    labels = paper_like()
    result = balance(labels, REGIONS, 0.2, seed=0)
    assert result.short == ()
    assert (shares(labels, result.copies) >= 0.2).all()
    # Only films abnormal somewhere are copied; normal films never are.
    assert (result.copies[labels.sum(axis=1) == 0] == 0).all()


def test_copies_stop_at_the_target():
    labels = paper_like()
    result = balance(labels, REGIONS, 0.2, seed=0)
    added = int(result.copies.sum())
    # One copy fewer would leave some region under the target.
    film = int(np.flatnonzero(result.copies)[-1])
    fewer = result.copies.copy()
    fewer[film] -= 1
    assert (shares(labels, fewer) < 0.2).any()
    assert added < len(labels)


def test_copies_are_spread_over_a_region_s_films():
    labels = np.zeros((100, 5), dtype=int)
    labels[:10, 0] = 1  # ten thorax-only films, 10% of the data
    result = balance(labels, REGIONS, 0.2, seed=1)
    thorax = result.copies[:10]
    assert thorax.max() - thorax.min() <= 1
    assert int(thorax.sum()) == 13  # (10 + 13) / (100 + 13) >= 0.2 first


def test_films_helping_several_short_regions_come_first():
    labels = np.zeros((100, 5), dtype=int)
    labels[0, [0, 4]] = 1  # thorax and diaphragm
    labels[1:4, 0] = 1
    labels[4:7, 4] = 1
    result = balance(labels, REGIONS, 0.1, seed=0)
    assert result.copies[0] == result.copies.max()


def test_deterministic_given_seed():
    labels = paper_like(seed=3)
    first = balance(labels, REGIONS, 0.2, seed=5).copies
    np.testing.assert_array_equal(first, balance(labels, REGIONS, 0.2, seed=5).copies)


def test_out_of_reach_targets_stop_at_the_growth_cap():
    labels = np.zeros((50, 5), dtype=int)
    for region in range(5):
        labels[region * 2 : region * 2 + 2, region] = 1  # disjoint, 40 normal films
    result = balance(labels, REGIONS, 0.2, seed=0, max_growth=3.0)
    assert int(result.copies.sum()) == 100  # 50 films grown to the cap of 150 examples
    assert result.short != ()


@pytest.mark.parametrize("target", [0.0, 0.01])
def test_no_copies_when_target_already_met(target):
    labels = paper_like()
    assert balance(labels, REGIONS, target, seed=0).copies.sum() == 0


def test_regions_without_abnormal_films_are_not_chased():
    labels = np.zeros((20, 5), dtype=int)
    labels[:2, 1] = 1
    result = balance(labels, REGIONS, 0.2, seed=0)
    assert result.short == ()
    assert shares(labels, result.copies)[1] >= 0.2


def test_empty_training_split():
    result = balance(np.zeros((0, 5), dtype=int), REGIONS, 0.2, seed=0)
    assert result.copies.size == 0 and result.short == ()

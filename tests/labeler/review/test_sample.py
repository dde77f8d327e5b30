"""Strata, allocation and the drawn sample, on literal label results."""

from __future__ import annotations

from collections import Counter

import pytest

from labeler.review import allocate, draw_sample, review_sample, stratum_of
from labeler.types import Evidence, LabelResult, RegionDecision, Report, State

REGIONS = ("thorax", "lungs", "aorta")
P, U, N, M = State.POSITIVE, State.UNCERTAIN, State.NEGATIVE, State.NOT_MENTIONED


def result(*states: State, error: str | None = None, conflict: str | None = None) -> LabelResult:
    decisions = []
    for region, state in zip(REGIONS, states, strict=True):
        if region == conflict:  # a finding that overruled a normal statement
            found = Evidence("f", "finding", state.value, 0, 1, "影", "anchor")
            normal = Evidence("n", "normal", "negative", 2, 3, "清", "anchor")
            decisions.append(RegionDecision(region, state, (found,), (normal,)))
        else:
            decisions.append(RegionDecision(region, state))
    return LabelResult("r", 0, tuple(decisions), error)


@pytest.mark.parametrize(
    ("res", "stratum"),
    [
        (result(M, M, M, error="boom"), "error"),
        (result(N, P, M, conflict="lungs"), "conflict"),
        (result(P, U, M), "uncertain"),
        (result(P, P, M), "positive:thorax"),  # thorax is rarer than lungs below
        (result(M, P, M), "positive:lungs"),
        (result(N, M, N), "negative"),
        (result(M, M, M), "no_region"),
    ],
)
def test_stratum_is_the_first_that_applies(res, stratum):
    assert stratum_of(res, ["aorta", "thorax", "lungs"]) == stratum


@pytest.mark.parametrize(
    ("sizes", "n", "expected"),
    [
        ({"a": 10, "b": 5}, 100, {"a": 10, "b": 5}),  # n covers the corpus: everything
        # floor 300 // (4*2) = 37 each; the other 226 as sqrt(9900) : sqrt(100) = 205.36 : 20.64,
        # so 205 + 20 and the last one to the larger fraction (small)
        ({"big": 9900, "small": 100}, 300, {"big": 242, "small": 58}),
        ({"a": 1000, "b": 3, "c": 1}, 40, {"a": 36, "b": 3, "c": 1}),  # capped at the stratum
        ({"a": 50, "b": 50, "c": 50}, 2, {"a": 1, "b": 1, "c": 0}),  # fewer than the strata
    ],
)
def test_allocate(sizes, n, expected):
    alloc = allocate(sizes, n)
    assert alloc == expected
    assert sum(alloc.values()) == min(n, sum(sizes.values()))


def test_allocate_oversamples_small_strata_but_stays_monotone():
    alloc = allocate({"a": 8000, "b": 1500, "c": 400, "d": 100}, 300)
    rates = [alloc[h] / s for h, s in (("a", 8000), ("b", 1500), ("c", 400), ("d", 100))]
    assert rates == sorted(rates)  # the smaller the stratum, the larger its share
    assert alloc["a"] > alloc["b"] > alloc["c"] > alloc["d"]


def corpus() -> list[LabelResult]:
    return (
        [result(N, N, N)] * 600
        + [result(M, P, M)] * 300
        + [result(M, M, P)] * 20  # the rare region
        + [result(U, M, M)] * 60
        + [result(M, M, M, error="x")] * 20
    )


def test_draw_sample_weights_add_up_to_the_corpus_and_every_stratum_is_drawn():
    drawn = draw_sample(corpus(), REGIONS, 100, seed=3)
    assert len(drawn) == 100 and len({d.index for d in drawn}) == 100
    per = Counter(d.stratum for d in drawn)
    assert set(per) == {"negative", "positive:lungs", "positive:aorta", "uncertain", "error"}
    assert sum(d.weight for d in drawn) == pytest.approx(1000)
    for d in drawn:
        assert d.stratum_sampled == per[d.stratum]
    # the rare stratum is read far more often than a simple random sample would (2 of 100)
    assert per["positive:aorta"] >= 8


def test_draw_sample_is_reproducible_and_seeded():
    a = draw_sample(corpus(), REGIONS, 50, seed=1)
    assert a == draw_sample(corpus(), REGIONS, 50, seed=1)
    assert a != draw_sample(corpus(), REGIONS, 50, seed=2)


def test_review_sample_labels_all_and_records_the_drawn(base_labeler):
    reports = [Report(f"r{i}", "两肺纹理增多。" if i % 2 else "心影不大。", i) for i in range(10)]
    sampled = review_sample(base_labeler, reports, 4, seed=0)
    assert len(sampled) == 4
    for s in sampled:
        assert s.record.text == reports[s.record.row].text
        assert s.record.hits  # cue spans for the page
    assert sum(s.weight for s in sampled) == pytest.approx(10)

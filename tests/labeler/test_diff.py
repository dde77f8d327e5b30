"""diff: exactly the reports an overlay was written for change, with evidence on each side."""

from __future__ import annotations

import pytest

from labeler.diff import DiffError, diff_packs, diff_result, transitions
from labeler.io import read_reports
from labeler.labeler import Labeler
from labeler.types import Evidence, LabelResult, RegionDecision, Report, State

# examples/example_hospital_reports.csv: the reports written in the hospital's own wording that
# base misreads, and the regions the overlay changes in each
WRITTEN_FOR = {
    "EH003": {"lungs": ("not_mentioned", "positive")},
    "EH005": {"diaphragm": ("not_mentioned", "positive")},
    "EH008": {"lungs": ("uncertain", "positive")},
    "EH011": {"heart": ("not_mentioned", "positive")},
    "EH014": {"lungs": ("not_mentioned", "positive")},
    "EH017": {"diaphragm": ("not_mentioned", "negative")},
    "EH021": {"lungs": ("not_mentioned", "positive")},
}


@pytest.fixture(scope="module")
def hospital_diffs(base_labeler):
    reports = read_reports("examples/example_hospital_reports.csv")
    return list(diff_packs(reports, base_labeler, Labeler("example_hospital")))


def test_overlay_changes_exactly_the_reports_it_was_written_for(hospital_diffs):
    got = {
        d.report_id: {c.region: (c.before.value, c.after.value) for c in d.changes}
        for d in hospital_diffs
    }
    assert got == WRITTEN_FOR


def test_each_change_carries_the_evidence_of_both_sides(hospital_diffs):
    eh008 = next(d for d in hospital_diffs if d.report_id == "EH008")
    (change,) = eh008.changes
    assert [(e.rule_id, e.text, e.modifiers) for e in change.evidence_before] == [
        ("find.lesion", "结节", ("unc.question",))
    ]
    assert [(e.rule_id, e.text, e.modifiers) for e in change.evidence_after] == [
        ("find.lesion", "结节", ())
    ]
    eh011 = next(d for d in hospital_diffs if d.report_id == "EH011")
    # before the overlay the base pack's policy recorded the wording it does not know
    assert [(e.rule_id, e.state, e.text) for e in eh011.changes[0].evidence_before] == [
        ("unlisted_predicate", "not_mentioned", "圆隆")
    ]
    assert eh011.changes[0].evidence_after[0].rule_id == "hosp.heart_apex"


def test_transitions_count_region_changes(hospital_diffs):
    counts = transitions(hospital_diffs)
    assert counts[("lungs", "not_mentioned", "positive")] == 3
    assert counts[("diaphragm", "not_mentioned", "positive")] == 1
    assert sum(counts.values()) == 7


def _result(*states: State, error: str | None = None) -> LabelResult:
    ev = Evidence("r", "finding", "positive", 0, 1, "x", "fixed")
    return LabelResult(
        "id",
        0,
        tuple(
            RegionDecision(region, s, (ev,) if s is State.POSITIVE else ())
            for region, s in zip(("lungs", "heart"), states, strict=True)
        ),
        error,
    )


@pytest.mark.parametrize(
    ("before", "after", "changed"),
    [
        (_result(State.POSITIVE, State.NEGATIVE), _result(State.POSITIVE, State.NEGATIVE), None),
        (
            _result(State.NEGATIVE, State.NEGATIVE),
            _result(State.POSITIVE, State.NEGATIVE),
            ["lungs"],
        ),
        (
            _result(State.NEGATIVE, State.NEGATIVE),
            _result(State.NEGATIVE, State.NEGATIVE, error="E"),
            [],
        ),
    ],
    ids=["same", "lungs", "error-only"],
)
def test_diff_result_on_literals(before, after, changed):
    got = diff_result(Report("id", "x", 0), before, after)
    if changed is None:
        assert got is None
    else:
        assert [c.region for c in got.changes] == changed


def test_packs_with_different_regions_cannot_be_compared(base_labeler, tmp_path):
    path = tmp_path / "lungs_only.yaml"
    path.write_text(
        "name: lungs_only\nregions: [{id: lungs, name: 肺}]\n"
        "rules:\n  - {id: a, kind: anchor, regions: [lungs], terms: [肺]}\n",
        encoding="utf-8",
    )
    with pytest.raises(DiffError, match="label different regions"):
        list(diff_packs([Report("1", "肺", 0)], base_labeler, Labeler(path)))

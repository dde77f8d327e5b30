"""Audit records, tallies and conflicts, on literal reports through the base labeler."""

from __future__ import annotations

import dataclasses

from labeler.audit import audit_records, run_audit, sample_reports, summarise
from labeler.audit.conflicts import conflicts_of
from labeler.audit.record import Auditor
from labeler.labeler import Labeler
from labeler.types import Report

REPORTS = [
    Report("a", "两肺纹理增多，心影增大。", 0),
    Report("b", "两侧胸廓对称。卧位床旁片。", 1),
    Report("c", "两肺纹理清晰，右下肺见斑片影。卧位床旁片！", 2),
    Report("d", "", 3, error="row could not be read"),
    Report("e", "兩肺紋理增多，心影增大。", 4),
]


def test_record_spans_are_in_original_text(base_labeler):
    record = Auditor(base_labeler).record(REPORTS[4])
    texts = {(h.rule_id, record.text[h.start : h.end]) for h in record.hits}
    assert ("heart.anchor", "心影") in texts
    assert ("lungs.anchor", "兩肺") in texts
    assert [record.text[c.start : c.end] for c in record.clauses] == ["兩肺紋理增多", "心影增大。"]
    assert [c.unmatched for c in record.clauses] == ["", ""]


def test_record_of_an_unreadable_row_is_an_error_record(base_labeler):
    record = Auditor(base_labeler).record(REPORTS[3])
    assert (record.error, record.hits, record.decisions) == ("row could not be read", (), ())


def test_unmatched_groups_normalised_clauses_by_frequency(base_labeler):
    audit = summarise(audit_records(base_labeler, REPORTS), base_labeler.pack)
    top = audit.unmatched[0]
    assert (top.reason, top.clause, top.count, top.reports) == ("no_cue", "卧位床旁片", 2, 2)
    assert (top.report_ids, top.example) == (("b", "c"), "卧位床旁片。")


def test_a_region_named_with_nothing_understood_is_recorded_by_the_policy(base_labeler):
    record = Auditor(base_labeler).record(Report("h", "心尖翘起，纵隔居中，两肺纹理清晰。", 0))
    # 纵隔 is an anchor of no region: saying nothing about it is no gap
    assert [(c.key, c.unmatched) for c in record.clauses] == [
        ("心尖翘起", "unlisted_predicate"),
        ("纵隔居中", ""),
        ("两肺纹理清晰", ""),
    ]


def test_without_a_policy_a_region_named_with_nothing_understood_is_anchor_only(base_labeler):
    labeler = Labeler(dataclasses.replace(base_labeler.pack, unlisted_predicate=None))
    record = Auditor(labeler).record(Report("h", "心尖翘起，纵隔居中。", 0))
    assert [(c.key, c.unmatched) for c in record.clauses] == [
        ("心尖翘起", "anchor_only"),
        ("纵隔居中", ""),
    ]


def test_clauses_outside_the_chest_are_their_own_group(base_labeler):
    reports = [
        Report("m1", "1.腰椎骨质增生，L4/5椎间隙变窄。2.心尖翘起。", 0),
        Report("m2", "1.腰椎骨质增生。2.卧位床旁片。", 1),
    ]
    record = Auditor(base_labeler).record(reports[0])
    assert [(c.key, c.unmatched) for c in record.clauses] == [
        ("1.腰椎骨质增生", "outside_chest"),
        ("L4/5椎间隙变窄", "outside_chest"),
        ("2.心尖翘起", "unlisted_predicate"),
    ]
    audit = summarise(audit_records(base_labeler, reports), base_labeler.pack)
    # chest gaps first, whatever their counts; the outside group after them
    assert [(u.reason, u.clause, u.count) for u in audit.unmatched] == [
        ("no_cue", "2.卧位床旁片", 1),
        ("unlisted_predicate", "2.心尖翘起", 1),
        ("outside_chest", "1.腰椎骨质增生", 2),
        ("outside_chest", "L4/5椎间隙变窄", 1),
    ]


def test_rule_hits_count_hits_reports_and_sentences(base_labeler):
    audit = summarise(audit_records(base_labeler, REPORTS), base_labeler.pack)
    rows = {r.rule_id: r for r in audit.rule_hits}
    assert (rows["heart.anchor"].hits, rows["heart.anchor"].reports) == (2, 2)
    assert rows["heart.anchor"].examples == ("两肺纹理增多，心影增大。", "兩肺紋理增多，心影增大。")
    assert rows["heart.anchor"].where.startswith("rules/base/heart.yaml:")
    # every rule of the pack is listed, those that never fired last
    assert len(rows) == len(base_labeler.pack.rules)
    assert audit.rule_hits[-1].hits == 0
    assert (audit.reports, audit.errors) == (5, 1)
    assert audit.states["heart"]["positive"] == 2


def test_conflicts_keep_both_sides_and_the_resolution(base_labeler):
    record = Auditor(base_labeler).record(REPORTS[2])
    (conflict,) = conflicts_of(record)
    assert (conflict.report_id, conflict.region, conflict.state) == ("c", "lungs", "positive")
    assert conflict.overruled_states == ("negative",)
    assert conflict.overruled == "negative normal.generic:清晰[4-6]"
    assert conflict.evidence == "positive lungs.lesion:斑片影[11-14]"
    assert conflict.resolution.startswith("positive over negative by precedence positive >")


def test_workers_and_chunks_give_the_audit_of_one_pass(base_labeler):
    reports = REPORTS * 3
    one = summarise(audit_records(base_labeler, reports), base_labeler.pack, show=4)
    assert run_audit(base_labeler, reports, show=4, chunk=2) == one
    done = []
    assert run_audit(base_labeler, reports, 2, show=4, chunk=4, progress=done.append) == one
    assert done == [4, 4, 4, 3]
    # the first 4 records, then up to 4 more with a conflict (report c)
    assert [r.report_id for r in one.shown] == ["a", "b", "c", "d", "c", "c"]


def test_sample_is_reproducible_and_in_input_order():
    reports = [Report(str(i), "心影增大。", i) for i in range(50)]
    picked = sample_reports(reports, 10, seed=3)
    assert picked == sample_reports(reports, 10, seed=3)
    assert [r.row for r in picked] == sorted(r.row for r in picked)
    assert len(picked) == 10
    assert sample_reports(reports, None) == reports

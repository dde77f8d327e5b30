"""One report's audit record: the parts of `Labeler.analyse` an audit needs, in original-text
offsets, small enough to ship back from a worker process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from labeler.context import UNLISTED as UNLISTED_RULE
from labeler.labeler import Labeler
from labeler.types import Assertion, CueHit, CueKind, RegionDecision, RegionFrom, Report

# trailing or leading punctuation does not make two clauses different to-do items
_EDGE = regex.compile(r"^[\s\p{P}]+|[\s\p{P}]+$")


@dataclass(frozen=True)
class ClauseRecord:
    key: str  # normalised clause text without edge punctuation: what unmatched.csv groups by
    start: int  # span in the original report text
    end: int
    sentence: tuple[int, int]  # original span of the sentence the clause belongs to
    # why nothing was understood: NO_CUE, ANCHOR_ONLY, UNLISTED, or "" when something was;
    # OUTSIDE for a clause about anatomy outside the chest, which is no gap of the pack
    unmatched: str


# no cue of the pack matched anywhere in the clause
NO_CUE = "no_cue"
# the clause names a region but says nothing the pack understands about it (心尖圆隆: 心尖 is
# known, 圆隆 is not); unknown wording next to known anatomy is the commonest gap of a new hospital
ANCHOR_ONLY = "anchor_only"
# the same, recorded by the pack's unlisted-predicate policy (see labeler/context.py)
UNLISTED = UNLISTED_RULE
# the clause is about anatomy outside the chest (腰椎骨质增生): its own group in a multi-exam
# corpus, so the to-do list of chest wording is not drowned by it
OUTSIDE = "outside_chest"


@dataclass(frozen=True)
class HitRecord:
    rule_id: str
    kind: str
    start: int  # span in the original report text
    end: int
    clause: int  # index into ReportRecord.clauses


@dataclass(frozen=True)
class ReportRecord:
    report_id: str
    row: int
    text: str
    clauses: tuple[ClauseRecord, ...]
    hits: tuple[HitRecord, ...]
    decisions: tuple[RegionDecision, ...]
    error: str | None = None


@dataclass(frozen=True)
class _TextAudit:
    clauses: tuple[ClauseRecord, ...]
    hits: tuple[HitRecord, ...]
    decisions: tuple[RegionDecision, ...]


def _unmatched(labeler: Labeler, hits: tuple[CueHit, ...], assertions: list[Assertion]) -> str:
    rules = labeler.matcher.rules
    if any(a.region_from is RegionFrom.OUTSIDE for a in assertions) or any(
        h.kind is CueKind.ANCHOR and rules[h.rule_id].outside for h in hits
    ):
        return OUTSIDE
    if not hits:
        return NO_CUE
    if any(a.hit.rule_id == UNLISTED_RULE for a in assertions):
        return UNLISTED
    names_region = any(h.kind is CueKind.ANCHOR and rules[h.rule_id].regions for h in hits)
    return ANCHOR_ONLY if names_region and not assertions else ""


def _text_audit(labeler: Labeler, text: str) -> _TextAudit:
    analysis = labeler.analyse(text)
    asserted: dict[int, list[Assertion]] = {}
    for a in analysis.assertions:
        asserted.setdefault(a.clause.start, []).append(a)
    norm = analysis.normalized
    sentences: dict[int, tuple[int, int]] = {}
    for c in analysis.clauses:
        start, end = norm.source_span(c.start, c.end)
        first = sentences.get(c.sentence, (start, end))
        sentences[c.sentence] = (min(first[0], start), max(first[1], end))
    clauses = []
    hits = []
    for i, (clause, clause_hits) in enumerate(zip(analysis.clauses, analysis.hits, strict=True)):
        start, end = norm.source_span(clause.start, clause.end)
        key = _EDGE.sub("", clause.text)
        why = _unmatched(labeler, clause_hits, asserted.get(clause.start, []))
        clauses.append(ClauseRecord(key, start, end, sentences[clause.sentence], why))
        for h in clause_hits:
            hs, he = norm.source_span(h.start, h.end)
            hits.append(HitRecord(h.rule_id, h.kind.value, hs, he, i))
    return _TextAudit(tuple(clauses), tuple(hits), analysis.decisions)


class Auditor:
    """Makes report records with one labeler; whole-report repeats (normal templates) are
    analysed once."""

    def __init__(self, labeler: Labeler, cache: int = 65536) -> None:
        self.labeler = labeler
        self._audit = lru_cache(maxsize=cache)(self._audit_text)

    def _audit_text(self, text: str) -> _TextAudit:
        return _text_audit(self.labeler, text)

    def record(self, report: Report) -> ReportRecord:
        """The report's record; a failure becomes an error record, never an exception."""
        text = report.text if isinstance(report.text, str) else ""
        error = report.error
        if error is None:
            try:
                part = self._audit(text)
                return ReportRecord(
                    report.report_id, report.row, text, part.clauses, part.hits, part.decisions
                )
            except Exception as exc:  # noqa: BLE001 - per-row isolation is the contract
                error = f"{type(exc).__name__}: {exc}"
        return ReportRecord(report.report_id, report.row, text, (), (), (), error)

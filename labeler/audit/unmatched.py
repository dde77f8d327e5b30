"""unmatched.csv: clauses the pack did not understand, grouped by normalised text, most frequent
first: the to-do list for extending a pack. A clause is listed when no cue matched at all
(no_cue), when it names a region but nothing said about it was understood (anchor_only, or
unlisted_predicate where the pack's policy recorded it). Clauses about anatomy outside the chest
(outside_chest) follow as a group of their own: a multi-exam export has many, and they are no
gap of a chest pack unless an outside anchor is missing from them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import regex

from labeler.audit.record import OUTSIDE, ReportRecord

_WORDY = regex.compile(r"[\p{L}\p{N}]")  # a clause of bare punctuation or numbering is no to-do


@dataclass(frozen=True)
class Unmatched:
    reason: str  # no_cue, anchor_only, unlisted_predicate or outside_chest
    clause: str  # normalised clause text
    count: int  # occurrences
    reports: int  # reports it occurs in
    report_ids: tuple[str, ...]  # the first few
    example: str  # the sentence around its first occurrence, as written


class UnmatchedTally:
    def __init__(self, examples: int = 3) -> None:
        self._examples = examples
        self._count: Counter[tuple[str, str]] = Counter()  # (reason, clause)
        self._reports: Counter[tuple[str, str]] = Counter()
        self._ids: dict[tuple[str, str], list[str]] = {}
        self._example: dict[tuple[str, str], str] = {}

    def add(self, record: ReportRecord) -> None:
        found = [c for c in record.clauses if c.unmatched and _WORDY.search(c.key)]
        for c in found:
            key = (c.unmatched, c.key)
            self._count[key] += 1
            if key not in self._example:
                self._example[key] = record.text[c.sentence[0] : c.sentence[1]].strip()
        for key in {(c.unmatched, c.key) for c in found}:
            self._reports[key] += 1
            ids = self._ids.setdefault(key, [])
            if len(ids) < self._examples:
                ids.append(record.report_id)

    def merge(self, later: UnmatchedTally) -> None:
        """Fold in the tally of the records that follow this one's."""
        self._count.update(later._count)
        self._reports.update(later._reports)
        for key, ids in later._ids.items():
            mine = self._ids.setdefault(key, [])
            mine += ids[: self._examples - len(mine)]
        for key, example in later._example.items():
            self._example.setdefault(key, example)

    def rows(self) -> tuple[Unmatched, ...]:
        order = sorted(
            self._count, key=lambda k: (k[0] == OUTSIDE, -self._count[k], -self._reports[k], k)
        )
        return tuple(
            Unmatched(*k, self._count[k], self._reports[k], tuple(self._ids[k]), self._example[k])
            for k in order
        )

"""The labeling pipeline: normalise → clauses → cue hits → assertions → region decisions.

Reports in real corpora repeat whole texts and template sentences, so results are cached by
report text and cue hits by clause text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

from labeler.context import assertions_for
from labeler.match import Matcher
from labeler.normalize import NormalizedText, Normalizer
from labeler.packs import Pack, load_pack
from labeler.resolve import decide
from labeler.sections import Sectioner
from labeler.tokenize import Tokenizer
from labeler.types import Assertion, Clause, CueHit, LabelResult, RegionDecision, Report, State


@dataclass(frozen=True)
class Analysis:
    """Every intermediate of one report, for `explain` and audits."""

    normalized: NormalizedText
    clauses: tuple[Clause, ...]
    hits: tuple[tuple[CueHit, ...], ...]  # per clause, absolute offsets in normalised text
    assertions: tuple[Assertion, ...]
    decisions: tuple[RegionDecision, ...]


def _text_of(value: object) -> str:
    """Report text from a cell: NaN/None/blank become the empty report."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


class Labeler:
    """Labels reports with a rule pack; `Labeler()` uses the shipped base pack."""

    def __init__(self, pack: Pack | str | Path = "base") -> None:
        self.pack = pack if isinstance(pack, Pack) else load_pack(pack)
        self.regions = self.pack.region_ids
        self.normalizer = Normalizer(
            (s.item for s in self.pack.normalize), _term_bigrams(self.pack)
        )
        self.tokenizer = Tokenizer(self.normalizer(w).text for w in self.pack.dictionary)
        self.sectioner = Sectioner(self.pack.headings, self.pack.silent_sections)
        self.matcher = Matcher(
            [s.item for s in self.pack.rules],
            self.regions,
            lambda term: self.normalizer(term).text,
            self.tokenizer,
        )
        self._decide = lru_cache(maxsize=65536)(self._decide_uncached)

    def analyse(self, text: str) -> Analysis:
        norm = self.normalizer(_text_of(text))
        clauses = tuple(self.sectioner.clauses(norm.text))
        hits = tuple(
            tuple(
                CueHit(h.rule_id, h.kind, h.start + c.start, h.end + c.start, h.text)
                for h in self.matcher.hits(c.text)
            )
            for c in clauses
        )
        assertions = tuple(
            assertions_for(
                clauses,
                hits,
                self.matcher.rules,
                self.pack.unlisted_predicate,
                self.pack.silent_sections,
            )
        )
        return Analysis(norm, clauses, hits, assertions, decide(assertions, self.regions, norm))

    def _decide_uncached(self, text: str) -> tuple[RegionDecision, ...]:
        return self.analyse(text).decisions

    def label(self, report: Report | str) -> LabelResult:
        """Label one report; a failure becomes an error row, never an exception."""
        if not isinstance(report, Report):
            report = Report("", _text_of(report))
        error = report.error
        if error is None:
            try:
                return LabelResult(
                    report.report_id, report.row, self._decide(_text_of(report.text))
                )
            except Exception as exc:  # noqa: BLE001 - per-row isolation is the contract
                error = f"{type(exc).__name__}: {exc}"
        empty = tuple(RegionDecision(r, State.NOT_MENTIONED) for r in self.regions)
        return LabelResult(report.report_id, report.row, empty, error)

    def label_many(
        self,
        reports: Iterable[Report],
        workers: int = 1,
        chunk: int = 1000,
        render: Callable[[LabelResult], Any] | None = None,
    ) -> Iterator[Any]:
        """Label in input order; with workers > 1 chunks go to worker processes.

        `render` (a picklable function) turns each result into what the caller writes, inside
        the worker: shipping rendered rows back is far cheaper than pickling results.
        """
        render = render or _as_is
        if workers <= 1:
            yield from (render(self.label(r)) for r in reports)
            return
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(self.pack,)) as ex:
            for results in ex.map(_label_chunk, _chunks(reports, chunk), repeat(render)):
                yield from results


def _term_bigrams(pack: Pack) -> set[str]:
    """Every pair of adjacent Chinese characters inside one word of a cue term or dictionary
    word: a space inside 心 影 is a stray, but 异常 胸椎 are two statements, although the term
    正常胸片 holds 常胸 — across its words 正常|胸片."""
    tokenizer = Tokenizer(pack.dictionary)
    words = [t for s in pack.rules for t in s.item.terms] + list(pack.dictionary)
    pieces = {token for w in words for token, _, _ in tokenizer.tokens(w)}
    return {
        w[i : i + 2]
        for w in pieces
        for i in range(len(w) - 1)
        if "\u4e00" <= w[i] <= "\u9fff" and "\u4e00" <= w[i + 1] <= "\u9fff"
    }


def _chunks(reports: Iterable[Report], size: int) -> Iterator[list[tuple]]:
    # plain tuples: unpickling a frozen dataclass costs ~40 µs, ten times a tuple
    batch: list[tuple] = []
    for r in reports:
        batch.append((r.report_id, r.text, r.row, r.error))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_WORKER: Labeler | None = None


def _init_worker(pack: Pack) -> None:
    global _WORKER
    _WORKER = Labeler(pack)


def _as_is(result: LabelResult) -> LabelResult:
    return result


def _label_chunk(reports: list[tuple], render: Callable[[LabelResult], Any]) -> list[Any]:
    assert _WORKER is not None
    return [render(_WORKER.label(Report(*r))) for r in reports]

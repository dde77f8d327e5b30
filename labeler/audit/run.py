"""Auditing a corpus: records per report, tallied in one pass, in worker processes when asked.

Workers tally their own chunks and send back only the tallies; this process then makes again
the few records the HTML page shows. Shipping records back costs more to unpickle than they
took to make.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from labeler.audit.conflicts import Conflict, conflicts_of
from labeler.audit.hits import HitTally, RuleHits
from labeler.audit.record import Auditor, ReportRecord
from labeler.audit.unmatched import Unmatched, UnmatchedTally
from labeler.labeler import Labeler
from labeler.packs import Pack
from labeler.types import Report, State
from toolkit.procs import die_with_parent


@dataclass(frozen=True)
class Audit:
    pack: str  # name and version
    regions: tuple[str, ...]
    reports: int
    errors: int
    states: dict[str, dict[str, int]]  # region → state → reports
    rule_hits: tuple[RuleHits, ...]
    unmatched: tuple[Unmatched, ...]
    conflicts: tuple[Conflict, ...]
    shown: tuple[ReportRecord, ...]  # the reports the HTML page shows in full


def sample_reports(reports: Sequence[Report], n: int | None, seed: int = 0) -> list[Report]:
    """A reproducible random sample of n reports, kept in input order (all when n is None)."""
    if n is None or n >= len(reports):
        return list(reports)
    picked = sorted(random.Random(seed).sample(range(len(reports)), n))
    return [reports[i] for i in picked]


def audit_records(labeler: Labeler, reports: Iterable[Report]) -> Iterator[ReportRecord]:
    """One record per report, in input order, in this process."""
    auditor = Auditor(labeler)
    return (auditor.record(r) for r in reports)


class Tally:
    """Everything an Audit needs but the records it shows, from records seen in input order.
    Tallies of consecutive chunks merge into the tally of the whole, so workers each keep one
    and send back only counts: records cost more to unpickle than to make again."""

    def __init__(self) -> None:
        self.n = self.errors = 0
        self.hits, self.unmatched = HitTally(), UnmatchedTally()
        self.states: Counter[tuple[str, str]] = Counter()
        self.conflicts: list[Conflict] = []
        self.conflicted: list[int] = []  # corpus positions of the reports with a conflict

    def add(self, record: ReportRecord, index: int) -> None:
        """`index` is the record's place in the whole corpus, wherever this tally starts."""
        self.n += 1
        self.errors += record.error is not None
        self.hits.add(record)
        self.unmatched.add(record)
        self.states.update((d.region, d.state.value) for d in record.decisions)
        found = conflicts_of(record)
        if found:
            self.conflicts += found
            self.conflicted.append(index)

    def merge(self, later: Tally) -> None:
        """Fold in the tally of the records that follow this one's."""
        self.n += later.n
        self.errors += later.errors
        self.hits.merge(later.hits)
        self.unmatched.merge(later.unmatched)
        self.states.update(later.states)
        self.conflicts += later.conflicts
        self.conflicted += later.conflicted

    def shown(self, show: int) -> list[int]:
        """Positions of the reports the page shows in full: the first `show`, and up to `show`
        more that have a conflict, so a long corpus still gives a page a browser opens."""
        extra = [i for i in self.conflicted if i >= show][:show]
        return [*range(min(self.n, show)), *extra]

    def audit(self, pack: Pack, shown: Sequence[ReportRecord]) -> Audit:
        regions = pack.region_ids
        return Audit(
            f"{pack.name} {pack.version}",
            regions,
            self.n,
            self.errors,
            {r: {s.value: self.states[r, s.value] for s in State} for r in regions},
            self.hits.rows(pack),
            self.unmatched.rows(),
            tuple(self.conflicts),
            tuple(shown),
        )


def summarise(records: Iterable[ReportRecord], pack: Pack, show: int = 1000) -> Audit:
    """The audit of records in input order."""
    records = list(records)
    tally = Tally()
    for index, record in enumerate(records):
        tally.add(record, index)
    return tally.audit(pack, [records[i] for i in tally.shown(show)])


def run_audit(
    labeler: Labeler,
    reports: Sequence[Report],
    workers: int = 1,
    show: int = 1000,
    chunk: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> Audit:
    """Audit `reports`; `progress` is called with the number of reports done after each chunk."""
    chunks = ((start, reports[start : start + chunk]) for start in range(0, len(reports), chunk))
    auditor = Auditor(labeler)
    total = Tally()
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            parts: Iterable[Tally] = (_tally(auditor, c) for c in chunks)
        else:
            ex = stack.enter_context(
                ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(labeler.pack,))
            )
            parts = ex.map(_tally_chunk, chunks)
        for part in parts:
            total.merge(part)
            if progress:
                progress(part.n)
    return total.audit(labeler.pack, [auditor.record(reports[i]) for i in total.shown(show)])


def _tally(auditor: Auditor, chunk: tuple[int, Sequence[Report]]) -> Tally:
    start, reports = chunk
    tally = Tally()
    for i, report in enumerate(reports):
        tally.add(auditor.record(report), start + i)
    return tally


_WORKER: Auditor | None = None


def _init_worker(pack: Pack) -> None:
    global _WORKER
    die_with_parent()  # also under spawn/forkserver, where no fork hook runs
    _WORKER = Auditor(Labeler(pack))


def _tally_chunk(chunk: tuple[int, Sequence[Report]]) -> Tally:
    assert _WORKER is not None
    return _tally(_WORKER, chunk)

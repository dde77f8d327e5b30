"""Records for a corpus (in input order, optionally in worker processes) and their summary."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from labeler.audit.conflicts import Conflict, conflicts_of
from labeler.audit.hits import HitTally, RuleHits
from labeler.audit.record import Auditor, ReportRecord
from labeler.audit.unmatched import Unmatched, UnmatchedTally
from labeler.labeler import Labeler
from labeler.packs import Pack
from labeler.types import Report, State


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


def audit_records(
    labeler: Labeler, reports: Iterable[Report], workers: int = 1, chunk: int = 1000
) -> Iterator[ReportRecord]:
    """One record per report, in input order; with workers > 1 chunks go to worker processes."""
    if workers <= 1:
        auditor = Auditor(labeler)
        yield from (auditor.record(r) for r in reports)
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(labeler.pack,)) as ex:
        for records in ex.map(_record_chunk, _chunks(reports, chunk)):
            yield from records


def _chunks(reports: Iterable[Report], size: int) -> Iterator[list[Report]]:
    batch: list[Report] = []
    for r in reports:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_WORKER: Auditor | None = None


def _init_worker(pack: Pack) -> None:
    global _WORKER
    _WORKER = Auditor(Labeler(pack))


def _record_chunk(reports: list[Report]) -> list[ReportRecord]:
    assert _WORKER is not None
    return [_WORKER.record(r) for r in reports]


def summarise(records: Iterable[ReportRecord], pack: Pack, show: int = 1000) -> Audit:
    """One pass over the records: tallies for the CSV files, and records kept whole for the HTML
    page: the first `show`, and up to `show` more that have a conflict, so a long corpus still
    gives a page a browser opens."""
    regions = pack.region_ids
    hits, unmatched = HitTally(), UnmatchedTally()
    states: dict[str, Counter[str]] = {r: Counter() for r in regions}
    conflicts: list[Conflict] = []
    shown: list[ReportRecord] = []
    n = errors = extra = 0
    for record in records:
        n += 1
        errors += record.error is not None
        hits.add(record)
        unmatched.add(record)
        for d in record.decisions:
            states[d.region][d.state.value] += 1
        found = conflicts_of(record)
        conflicts += found
        if n <= show:
            shown.append(record)
        elif found and extra < show:
            shown.append(record)
            extra += 1
    return Audit(
        f"{pack.name} {pack.version}",
        regions,
        n,
        errors,
        {r: {s.value: states[r][s.value] for s in State} for r in regions},
        hits.rows(pack),
        unmatched.rows(),
        tuple(conflicts),
        tuple(shown),
    )

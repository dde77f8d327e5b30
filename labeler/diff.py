"""Which reports and regions change between two packs, with the evidence on each side: how a
hospital reviews its overlay against the pack it extends."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from labeler.labeler import Labeler
from labeler.types import Evidence, LabelResult, Report, State


class DiffError(ValueError):
    """The two packs cannot be compared (their regions differ)."""


@dataclass(frozen=True)
class RegionChange:
    region: str
    before: State
    after: State
    evidence_before: tuple[Evidence, ...]
    evidence_after: tuple[Evidence, ...]


@dataclass(frozen=True)
class ReportDiff:
    report_id: str
    row: int
    text: str
    changes: tuple[RegionChange, ...]
    error_before: str | None = None
    error_after: str | None = None


def diff_result(report: Report, before: LabelResult, after: LabelResult) -> ReportDiff | None:
    """The changes of one report, or None when both packs say the same for every region."""
    changes = tuple(
        RegionChange(a.region, a.state, b.state, a.evidence, b.evidence)
        for a, b in zip(before.decisions, after.decisions, strict=True)
        if a.state is not b.state
    )
    if not changes and before.error == after.error:
        return None
    return ReportDiff(report.report_id, report.row, report.text, changes, before.error, after.error)


def diff_packs(
    reports: Sequence[Report], before: Labeler, after: Labeler, workers: int = 1
) -> Iterator[ReportDiff]:
    """The reports whose labels differ between the two labelers, in input order."""
    if before.regions != after.regions:
        raise DiffError(
            f"packs {before.pack.name} and {after.pack.name} label different regions: "
            f"{', '.join(before.regions)} vs {', '.join(after.regions)}"
        )
    pairs = zip(
        before.label_many(reports, workers=workers),
        after.label_many(reports, workers=workers),
        strict=True,
    )
    for report, (a, b) in zip(reports, pairs, strict=True):
        changed = diff_result(report, a, b)
        if changed is not None:
            yield changed


def transitions(diffs: Iterable[ReportDiff]) -> Counter[tuple[str, str, str]]:
    """(region, before, after) → how many reports made that change."""
    return Counter((c.region, c.before.value, c.after.value) for d in diffs for c in d.changes)

"""conflicts.csv: regions whose decision overruled evidence of another state (a normal statement
and a finding about the same region), with the precedence that settled it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labeler.audit.record import ReportRecord
from labeler.types import Evidence, State

_PRECEDENCE = " > ".join(s.value for s in sorted(State, key=lambda s: -s.rank))


@dataclass(frozen=True)
class Conflict:
    report_id: str
    row: int
    region: str
    state: str  # the state that won
    overruled_states: tuple[str, ...]
    # evidence as text (see `describe`): conflicts travel back from worker processes in bulk
    evidence: str
    overruled: str

    @property
    def resolution(self) -> str:
        return (
            f"{self.state} over {' and '.join(self.overruled_states)} by precedence {_PRECEDENCE}"
        )


def describe(evidence: Sequence[Evidence]) -> str:
    """`state rule:text[start-end]` per piece of evidence, as one cell."""
    return "; ".join(f"{e.state} {e.rule_id}:{e.text}[{e.start}-{e.end}]" for e in evidence)


def conflicts_of(record: ReportRecord) -> tuple[Conflict, ...]:
    return tuple(
        Conflict(
            record.report_id,
            record.row,
            d.region,
            d.state.value,
            tuple(dict.fromkeys(e.state for e in d.overruled)),
            describe(d.evidence),
            describe(d.overruled),
        )
        for d in record.decisions
        if d.evidence and any(e.state != d.state.value for e in d.overruled)
    )

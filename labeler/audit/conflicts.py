"""conflicts.csv: regions whose decision overruled evidence of another state (a normal statement
and a finding about the same region), with the precedence that settled it."""

from __future__ import annotations

from dataclasses import dataclass

from labeler.audit.record import ReportRecord
from labeler.types import Evidence, State


@dataclass(frozen=True)
class Conflict:
    report_id: str
    row: int
    region: str
    state: str  # the state that won
    evidence: tuple[Evidence, ...]
    overruled: tuple[Evidence, ...]

    @property
    def overruled_states(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.state for e in self.overruled))

    @property
    def resolution(self) -> str:
        return f"{self.state} over {' and '.join(self.overruled_states)} by precedence " + (
            " > ".join(s.value for s in sorted(State, key=lambda s: -s.rank))
        )


def conflicts_of(record: ReportRecord) -> tuple[Conflict, ...]:
    return tuple(
        Conflict(record.report_id, record.row, d.region, d.state.value, d.evidence, d.overruled)
        for d in record.decisions
        if d.evidence and any(e.state != d.state.value for e in d.overruled)
    )


def describe(evidence: tuple[Evidence, ...]) -> str:
    """`rule:text[start-end]` per piece of evidence, as one cell."""
    return "; ".join(f"{e.state} {e.rule_id}:{e.text}[{e.start}-{e.end}]" for e in evidence)

"""Run a pack's inline examples: every rule's and the pack's own (text → expected states)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from labeler.labeler import Labeler
from labeler.types import LabelResult, State


@dataclass(frozen=True)
class ExampleCase:
    owner: str  # rule id, or "pack:<name>" for pack-level examples
    where: str  # file:line of the rule or example
    text: str
    expect: dict[str, State]


@dataclass(frozen=True)
class ExampleOutcome:
    case: ExampleCase
    result: LabelResult
    mismatches: dict[str, tuple[State, State]]  # region → (expected, got)

    @property
    def passed(self) -> bool:
        return not self.mismatches


def example_cases(labeler: Labeler) -> Iterator[ExampleCase]:
    for sourced in labeler.pack.rules:
        for ex in sourced.item.examples:
            yield ExampleCase(sourced.item.id, sourced.where, ex.text, dict(ex.expect))
    for sourced in labeler.pack.examples:
        ex = sourced.item
        yield ExampleCase(f"pack:{labeler.pack.name}", sourced.where, ex.text, dict(ex.expect))


def run_case(labeler: Labeler, case: ExampleCase) -> ExampleOutcome:
    result = labeler.label(case.text)
    states = result.states
    mismatches = {
        region: (want, states[region])
        for region, want in case.expect.items()
        if states[region] is not want
    }
    return ExampleOutcome(case, result, mismatches)

"""Region decisions: precedence over assertions, evidence in original-text spans, label vectors.

Precedence inside a report: positive > uncertain > negative > not_mentioned. The decision keeps
the evidence of the winning state and, separately, the evidence it overruled (for audits).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from labeler.normalize import NormalizedText
from labeler.types import Assertion, Evidence, RegionDecision, State


class UncertainPolicy(str, Enum):
    POSITIVE = "positive"  # uncertain counts as 1 (the default, as the labeling guide)
    NEGATIVE = "negative"  # uncertain counts as 0
    KEEP = "keep"  # uncertain written as -1


class NotMentionedPolicy(str, Enum):
    ZERO = "0"  # not mentioned counts as 0 (the default)
    KEEP = "keep"  # not mentioned left blank


def evidence_of(a: Assertion, norm: NormalizedText) -> Evidence:
    start, end = norm.source_span(a.hit.start, a.hit.end)
    anchor_span = norm.source_span(a.anchor.start, a.anchor.end) if a.anchor else None
    return Evidence(
        rule_id=a.hit.rule_id,
        kind=a.hit.kind.value,
        state=a.state.value,
        start=start,
        end=end,
        text=norm.original[start:end],
        region_from=a.region_from.value,
        anchor_rule=a.anchor.rule_id if a.anchor else None,
        anchor_span=anchor_span,
        modifiers=tuple(m.rule_id for m in a.modifiers),
        clause=norm.source_span(a.clause.start, a.clause.end),
    )


def decide(
    assertions: Sequence[Assertion], region_ids: Sequence[str], norm: NormalizedText
) -> tuple[RegionDecision, ...]:
    evidence = [evidence_of(a, norm) for a in assertions]  # once, however many regions
    decisions = []
    for region in region_ids:
        about = [i for i, a in enumerate(assertions) if region in a.regions]
        if not about:
            decisions.append(RegionDecision(region, State.NOT_MENTIONED))
            continue
        state = max((assertions[i].state for i in about), key=lambda s: s.rank)
        decisions.append(
            RegionDecision(
                region,
                state,
                tuple(evidence[i] for i in about if assertions[i].state is state),
                tuple(evidence[i] for i in about if assertions[i].state is not state),
            )
        )
    return tuple(decisions)


def label_value(
    state: State,
    uncertain: UncertainPolicy = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy = NotMentionedPolicy.ZERO,
) -> int | None:
    """The 0/1 (or -1 / blank) label a state becomes under the chosen policies."""
    if state is State.POSITIVE:
        return 1
    if state is State.UNCERTAIN:
        return {UncertainPolicy.POSITIVE: 1, UncertainPolicy.NEGATIVE: 0}.get(uncertain, -1)
    if state is State.NOT_MENTIONED and not_mentioned is NotMentionedPolicy.KEEP:
        return None
    return 0

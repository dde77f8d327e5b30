import pytest

from labeler.normalize import NormalizedText
from labeler.resolve import NotMentionedPolicy, UncertainPolicy, decide, label_value
from labeler.types import Assertion, CueHit, CueKind, RegionFrom, State


def assertion(state, regions, start=0, end=2, kind=CueKind.FINDING):
    return Assertion(CueHit("r", kind, start, end, "xx"), regions, state, RegionFrom.ANCHOR)


def test_precedence_positive_over_uncertain_over_negative():
    norm = NormalizedText("心影不大心影增大", "心影不大心影增大")
    decisions = decide(
        [
            assertion(State.NEGATIVE, ("heart",), 2, 4, CueKind.NORMAL),
            assertion(State.POSITIVE, ("heart",), 6, 8),
            assertion(State.UNCERTAIN, ("lungs",)),
            assertion(State.NEGATIVE, ("lungs",)),
        ],
        ("lungs", "heart", "aorta"),
        norm,
    )
    states = {d.region: d.state for d in decisions}
    assert states == {
        "lungs": State.UNCERTAIN,
        "heart": State.POSITIVE,
        "aorta": State.NOT_MENTIONED,
    }
    heart = decisions[1]
    assert [e.text for e in heart.evidence] == ["增大"]
    assert [e.text for e in heart.overruled] == ["不大"]


@pytest.mark.parametrize(
    ("state", "uncertain", "not_mentioned", "value"),
    [
        (State.POSITIVE, UncertainPolicy.NEGATIVE, NotMentionedPolicy.ZERO, 1),
        (State.UNCERTAIN, UncertainPolicy.POSITIVE, NotMentionedPolicy.ZERO, 1),
        (State.UNCERTAIN, UncertainPolicy.NEGATIVE, NotMentionedPolicy.ZERO, 0),
        (State.UNCERTAIN, UncertainPolicy.KEEP, NotMentionedPolicy.ZERO, -1),
        (State.NEGATIVE, UncertainPolicy.KEEP, NotMentionedPolicy.KEEP, 0),
        (State.NOT_MENTIONED, UncertainPolicy.POSITIVE, NotMentionedPolicy.ZERO, 0),
        (State.NOT_MENTIONED, UncertainPolicy.POSITIVE, NotMentionedPolicy.KEEP, None),
    ],
)
def test_label_value_policies(state, uncertain, not_mentioned, value):
    assert label_value(state, uncertain, not_mentioned) == value

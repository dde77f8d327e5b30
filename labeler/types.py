"""Records that cross stage boundaries: reports, clauses, cue hits, region decisions, results."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class State(str, Enum):
    """A region's state; declaration order is ascending precedence."""

    NOT_MENTIONED = "not_mentioned"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"
    POSITIVE = "positive"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(State)}


class CueKind(str, Enum):
    ANCHOR = "anchor"  # names anatomy: sets the region context for what follows
    FINDING = "finding"  # an abnormality
    NORMAL = "normal"  # a statement that something is normal
    NEGATION = "negation"  # trigger: findings in scope are absent
    UNCERTAINTY = "uncertainty"  # trigger: findings in scope are hedged in their existence
    PSEUDO = "pseudo"  # looks like a trigger but is not one (较前无明显变化)
    SUPPRESS = "suppress"  # advice / technique remark: hits in scope set nothing (建议复查…)
    TERMINATOR = "terminator"  # ends trigger scopes inside a clause (但, 而, 伴)
    CONJUNCTION = "conjunction"  # joins adjacent anchors into one subject (两肺及心膈)
    QUALIFIER = "qualifier"  # laterality between joined anchors (右心缘及右膈面)


class RegionFrom(str, Enum):
    """How an assertion's regions were chosen; labeler/context.py declares the order it tries."""

    OUTSIDE = "outside"  # anatomy outside the chest: no region
    FIXED = "fixed"  # the rule's own regions
    IMPLIED = "implied"  # the rule's implied regions
    ANCHOR = "anchor"  # anatomy named in the clause
    CONTEXT = "context"  # the regions of the previous cue of the clause
    CARRIED = "carried"  # the region the previous clause ended on
    FALLBACK = "fallback"  # the rule's fallback
    NONE = "none"  # nothing: the cue sets no region


@dataclass(frozen=True)
class Report:
    """One input report; `row` is its 0-based position in the source file."""

    report_id: str
    text: str
    row: int = 0
    error: str | None = None  # set when the input row itself could not be read


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Clause:
    """A clause of normalised text with its place in the report."""

    text: str
    start: int  # offsets into the normalised text
    end: int
    sentence: int
    section: str  # "findings", "impression" or "body" when the report has no headings
    opens_item: bool = False  # the clause starts a numbered list item (1. / 2、 / (3))


@dataclass(frozen=True)
class CueHit:
    """One cue match inside a clause; start/end are offsets into the normalised text."""

    rule_id: str
    kind: CueKind
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Assertion:
    """A finding or normal statement after context: what it says about which regions."""

    hit: CueHit
    regions: tuple[str, ...]
    state: State
    region_from: RegionFrom
    anchor: CueHit | None = None
    modifiers: tuple[CueHit, ...] = ()  # triggers whose scope covers the hit
    clause: Span = Span(0, 0)


@dataclass(frozen=True)
class Evidence:
    """What caused a region decision, with spans in the original report text."""

    rule_id: str
    kind: str
    state: str
    start: int
    end: int
    text: str
    region_from: str
    anchor_rule: str | None = None
    anchor_span: tuple[int, int] | None = None
    modifiers: tuple[str, ...] = ()
    clause: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class RegionDecision:
    region: str
    state: State
    evidence: tuple[Evidence, ...] = ()  # what decided the state
    overruled: tuple[Evidence, ...] = ()  # assertions of lower precedence for the same region


@dataclass(frozen=True)
class LabelResult:
    report_id: str
    row: int
    decisions: tuple[RegionDecision, ...]
    error: str | None = None

    @property
    def states(self) -> dict[str, State]:
        return {d.region: d.state for d in self.decisions}

    @property
    def no_region_mentioned(self) -> bool:
        return all(d.state is State.NOT_MENTIONED for d in self.decisions)

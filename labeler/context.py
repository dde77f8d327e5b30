"""Context: turn cue hits into assertions — which regions a finding or normal statement is about,
and whether a negation, uncertainty or suppressing cue covers it.

Region choice for a finding or normal cue: `REGION_ORDER` declares the steps, the first that
answers decides, and the assertion records which (`RegionFrom`):
  outside   nothing, when the clause names anatomy outside the chest (腰椎骨质增生, 腹主动脉钙化,
            腹主动脉硬化), or, for a cue without regions of its own, when an earlier clause of
            the same paragraph or list item did and no chest anatomy was named since (腰椎退变，
            椎体边缘骨质增生); generic anatomy (椎体, 骨质) stays with the outside part;
  fixed     the rule's own `regions` (主动脉结突出 → aorta);
  implied   the rule's `implies` over an anchor naming only regions it `outranks` (双肺积液),
            over a whole-film subject (胸片未见骨折: the ribs, not every region), and over the
            regions of an earlier cue of the clause (未见实变及积液: 积液 is the diaphragm's);
  anchor    the latest anchor before it in the clause (心影 … 增大 → heart), or
  context   the regions of the latest resolved cue before it (主动脉结突出并见钙化 → aorta);
  carried   for a hedged shadow (体外物品), the region the previous clause ended on;
  implied   the rule's `implies` (斑片影 → lungs, 积液 → diaphragm);
  anchor    the first anchor after it in the clause (… 见于右下肺);
  carried   the region the previous clause ended on (右下肺见斑片影，边缘模糊);
  fallback  the rule's `fallback` (钙化 alone is in the lungs, but 主动脉结增宽，可见钙化 is not).
A whole-film word clears every region (胸片未见异常) but no finding is in all of them, so a
finding that is not negated and would take a whole-film subject, named or carried from a title
such as 床旁胸片：, takes what it implies or falls back to, else nothing (床旁胸片：ECMO术后).
An anchor with no regions (纵隔, 气管) sets the context to "no region", so what follows it is
about nothing the labels track; written straight before another anchor it qualifies it
(颈根部软组织 is neck, not chest wall). A finding that takes the carried region of a hedged
finding is hedged too. An uncertainty cue with `implies` (体外物品) also asserts an
uncertain shadow of its own, in the region named before it or else the implied one.
Trigger scopes run to the clause edge or a terminator; rules with `scope: sentence` reach across
the clauses of their sentence.
A clause that names a region and says something of it that no cue covers (左肺见囊状透亮影)
asserts what the pack's `unlisted_predicate` policy says, so unseen wording is visible in the
evidence and the audit instead of silently "not mentioned".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum

import regex

from labeler.match import CompiledRule
from labeler.packs import Direction, Scope, UnlistedPredicate
from labeler.types import Assertion, Clause, CueHit, CueKind, RegionFrom, Span, State

TRIGGER_KINDS = frozenset({CueKind.NEGATION, CueKind.UNCERTAINTY, CueKind.SUPPRESS})
# the evidence rule id of what the unlisted-predicate policy asserts
UNLISTED = "unlisted_predicate"
_CJK = regex.compile(r"\p{Han}")


@dataclass(frozen=True)
class TriggerScope:
    trigger: CueHit
    start: int
    end: int

    def covers(self, hit: CueHit) -> bool:
        return self.start <= hit.start and hit.end <= self.end


def _clause_scopes(
    clause: Clause, hits: Sequence[CueHit], rules: Mapping[str, CompiledRule]
) -> list[TriggerScope]:
    stops = [h for h in hits if h.kind is CueKind.TERMINATOR]
    scopes: list[TriggerScope] = []
    for h in hits:
        rule = rules[h.rule_id]
        if h.kind not in TRIGGER_KINDS:
            continue
        if rule.direction in (Direction.FORWARD, Direction.BOTH):
            end = min((s.start for s in stops if s.start >= h.end), default=clause.end)
            scopes.append(TriggerScope(h, h.end, end))
        if rule.direction in (Direction.BACKWARD, Direction.BOTH):
            start = max((s.end for s in stops if s.end <= h.start), default=clause.start)
            scopes.append(TriggerScope(h, start, h.start))
    return scopes


def _state(kind: CueKind, modifiers: Sequence[CueHit]) -> State:
    if kind is CueKind.NORMAL:
        return State.NEGATIVE
    if kind is CueKind.UNCERTAINTY or any(m.kind is CueKind.UNCERTAINTY for m in modifiers):
        return State.UNCERTAIN
    if any(m.kind is CueKind.NEGATION for m in modifiers):
        return State.NEGATIVE
    return State.POSITIVE


@dataclass(frozen=True)
class Carry:
    """What a clause hands to the next one: the region it ended on, and the uncertainty cues of
    the hedged finding that put it there (左下肺似见小结节，边界欠清: the border is hedged too)."""

    regions: tuple[str, ...] | None = None
    hedges: tuple[CueHit, ...] = ()
    whole_film: bool = False  # the region is a whole-film word's (床旁胸片：…)
    outside: bool = False  # the subject is anatomy outside the chest (腰椎…)


class Outside(Enum):
    """Why the current subject is anatomy outside the chest."""

    NAMED = "named"  # an outside anchor in this clause (腰椎骨质增生)
    CARRIED = "carried"  # one in an earlier clause of the paragraph or list item


@dataclass
class _Subject:
    """The clause's current subject while its hits are read left to right."""

    regions: tuple[str, ...] | None = None
    hit: CueHit | None = None
    how: RegionFrom = RegionFrom.ANCHOR  # ANCHOR, CONTEXT or CARRIED
    whole_film: bool = False
    hedges: tuple[CueHit, ...] = ()
    outside: Outside | None = None

    def name(self, hit: CueHit, rule: CompiledRule, joined: bool, conjunction: bool) -> None:
        if conjunction and self.regions and not self.whole_film and rule.outside:
            self.hit = hit  # 胸壁及颈根部: the chest wall stays named
            return
        if rule.outside or (rule.generic and self.outside):
            # 腰椎骨质增生 / 腰椎…椎体边缘: the lumbar spine's, not the chest's
            self.regions, self.hit, self.how = (), hit, RegionFrom.ANCHOR
            self.whole_film, self.hedges, self.outside = False, (), Outside.NAMED
            return
        if not rule.regions and self.outside:
            self.regions, self.hit = (), hit  # 腰椎…食管: no region named, still outside
            return
        self.outside = None
        if joined and self.regions and rule.whole_film and not conjunction:
            return  # 心肺膈余未见异常: the rest of the regions just named, not the whole film
        if joined and self.regions is not None and not self.whole_film:
            if self.regions or conjunction:
                # 两肺及心膈 / 纵隔及心影: one subject naming several regions
                self.regions += tuple(r for r in rule.regions if r not in self.regions)
            # else: 颈根部软组织 — a place outside the regions qualifies what follows it
        else:
            # 余心肺膈: a whole-film word followed by anatomy means that anatomy only
            self.regions = rule.regions
        self.hit, self.how = hit, RegionFrom.ANCHOR
        self.whole_film, self.hedges = rule.whole_film, ()


@dataclass(frozen=True)
class _Cue:
    """A finding or normal cue whose regions are being chosen, with what it can draw on."""

    hit: CueHit
    rule: CompiledRule
    subject: _Subject
    later_anchors: Sequence[CueHit]
    rules: Mapping[str, CompiledRule]
    carry: Carry
    hedged_shadow: bool  # an uncertainty cue with regions of its own (体外物品)


# regions, how they were chosen, and the anchor that named them
Choice = tuple[tuple[str, ...], RegionFrom, CueHit | None]


def _outside(c: _Cue) -> Choice | None:
    named = c.subject.outside is Outside.NAMED
    if named or (c.subject.outside is Outside.CARRIED and not c.rule.regions):
        return (), RegionFrom.OUTSIDE, c.subject.hit
    return None


def _fixed(c: _Cue) -> Choice | None:
    return (c.rule.regions, RegionFrom.FIXED, None) if c.rule.regions else None


def _outranking(c: _Cue) -> Choice | None:
    # 双肺积液: pleural fluid, whatever lung word is named before it
    regions = c.subject.regions
    if c.rule.outranks and regions and set(regions) <= set(c.rule.outranks):
        return c.rule.implies, RegionFrom.IMPLIED, None
    return None


def _implied_over_subject(c: _Cue) -> Choice | None:
    # 胸片未见骨折 is about the ribs, not every region (胸片未见病变 is about all); after a cue
    # of the clause, 未见实变及积液: 积液 is the diaphragm's
    whole_film = c.subject.whole_film and c.subject.how is RegionFrom.ANCHOR
    after_cue = c.subject.how is RegionFrom.CONTEXT and not c.hedged_shadow
    if c.rule.implies and (whole_film or after_cue):
        return c.rule.implies, RegionFrom.IMPLIED, None
    return None


def _subject(c: _Cue) -> Choice | None:
    s = c.subject
    if s.regions is not None and (s.regions or not c.hedged_shadow):
        return s.regions, s.how, s.hit if s.how is RegionFrom.ANCHOR else None
    return None


def _shadow_carried(c: _Cue) -> Choice | None:
    # a hedged shadow (体外物品) lies over what was just named
    if c.hedged_shadow and c.carry.regions:
        return c.carry.regions, RegionFrom.CARRIED, None
    return None


def _implied(c: _Cue) -> Choice | None:
    return (c.rule.implies, RegionFrom.IMPLIED, None) if c.rule.implies else None


def _anchor_after(c: _Cue) -> Choice | None:
    after = next((a for a in c.later_anchors if a.start >= c.hit.end), None)
    if after is None:
        return None
    return c.rules[after.rule_id].regions, RegionFrom.ANCHOR, after


def _carried(c: _Cue) -> Choice | None:
    return (c.carry.regions, RegionFrom.CARRIED, None) if c.carry.regions else None


def _fallback(c: _Cue) -> Choice | None:
    return (c.rule.fallback, RegionFrom.FALLBACK, None) if c.rule.fallback else None


# The order in which a finding or normal cue's regions are chosen: the first step that answers
# decides (the module doc says why each comes where it does).
REGION_ORDER: tuple[Callable[[_Cue], Choice | None], ...] = (
    _outside,
    _fixed,
    _outranking,
    _implied_over_subject,
    _subject,
    _shadow_carried,
    _implied,
    _anchor_after,
    _carried,
    _fallback,
)


def _choose_regions(c: _Cue) -> Choice:
    for step in REGION_ORDER:
        choice = step(c)
        if choice is not None:
            return choice
    return (), RegionFrom.NONE, None


def _clause_assertions(
    clause: Clause,
    hits: Sequence[CueHit],
    rules: Mapping[str, CompiledRule],
    carry: Carry,
    policy: UnlistedPredicate | None,
) -> tuple[list[Assertion], Carry]:
    scopes = _clause_scopes(clause, hits, rules)
    anchors = [h for h in hits if h.kind is CueKind.ANCHOR]
    subject = _Subject()
    if carry.outside:
        subject = _Subject(regions=(), how=RegionFrom.CARRIED, outside=Outside.CARRIED)
    out: list[Assertion] = []
    # the anchor a following anchor may join, where the joint text ends, and whether a
    # conjunction stands between them
    previous: CueHit | None = None
    previous_end = -1
    conjunction = False
    open_anchor: CueHit | None = None  # a region named and nothing said of it yet
    # an exam list naming the chest too (胸部正位、腰椎正侧位：) opens no outside scope; a chest
    # word written straight before outside anatomy (余腰椎) names no chest
    chest_named: list[CueHit] = []
    for hit in hits:
        rule = rules[hit.rule_id]
        joined = previous is not None and previous_end == hit.start
        if hit.kind in (CueKind.CONJUNCTION, CueKind.QUALIFIER):
            if joined:
                previous_end = hit.end
                conjunction = conjunction or hit.kind is CueKind.CONJUNCTION
            continue
        if hit.kind is CueKind.ANCHOR:
            if rule.regions and not rule.generic:
                chest_named.append(hit)
            elif rule.outside and joined and previous in chest_named and not conjunction:
                chest_named.remove(previous)
            subject.name(hit, rule, joined, joined and conjunction)
            previous, previous_end, conjunction = hit, hit.end, False
            named = bool(subject.regions) and not subject.whole_film
            open_anchor = hit if named else None
            continue
        previous = None
        if hit.kind not in TRIGGER_KINDS:
            open_anchor = None
        # an uncertainty cue with regions of its own (体外物品) is itself a hedged shadow
        hedged_shadow = hit.kind is CueKind.UNCERTAINTY and bool(rule.implies or rule.regions)
        if hit.kind not in (CueKind.FINDING, CueKind.NORMAL) and not hedged_shadow:
            continue
        regions, how, anchor = _choose_regions(
            _Cue(hit, rule, subject, anchors, rules, carry, hedged_shadow)
        )
        modifiers = tuple(s.trigger for s in scopes if s.covers(hit))
        if how is RegionFrom.CARRIED and hit.kind is CueKind.FINDING:
            modifiers += tuple(h for h in carry.hedges if h not in modifiers)
        state = _state(hit.kind, modifiers)
        whole_film = (
            how is RegionFrom.ANCHOR and anchor is not None and rules[anchor.rule_id].whole_film
        ) or (how is RegionFrom.CARRIED and carry.whole_film)
        if whole_film and hit.kind is CueKind.FINDING and state is not State.NEGATIVE:
            # 胸片未见异常 clears every region, but no finding is in all of them: 床旁胸片：
            # ECMO术后 is about the regions the finding itself names, if any
            regions, how, anchor = rule.implies or rule.fallback, RegionFrom.IMPLIED, None
        if regions and not (subject.whole_film and how is RegionFrom.IMPLIED):
            subject.whole_film = subject.whole_film and how is RegionFrom.ANCHOR
            subject.regions = regions
            subject.hit, subject.how = (
                (anchor, RegionFrom.ANCHOR) if anchor else (hit, RegionFrom.CONTEXT)
            )
            subject.outside = None
            subject.hedges = (
                tuple(m for m in modifiers if m.kind is CueKind.UNCERTAINTY)
                if state is State.UNCERTAIN and hit.kind is CueKind.FINDING
                else ()
            )
        if any(m.kind is CueKind.SUPPRESS for m in modifiers) or not (
            regions or how is RegionFrom.OUTSIDE
        ):
            continue
        # an outside assertion has no regions: it decides nothing, but shows in evidence/audit
        out.append(
            Assertion(hit, regions, state, how, anchor, modifiers, Span(clause.start, clause.end))
        )
    if open_anchor is not None:
        out += _unlisted(clause, hits, open_anchor, subject, scopes, policy)
    if subject.regions is None:
        return out, carry
    outside = subject.outside is not None and not chest_named
    return out, Carry(subject.regions, subject.hedges, subject.whole_film, outside)


def _unlisted(
    clause: Clause,
    hits: Sequence[CueHit],
    anchor: CueHit,
    subject: _Subject,
    scopes: Sequence[TriggerScope],
    policy: UnlistedPredicate | None,
) -> list[Assertion]:
    """What the pack's policy asserts for a region named with nothing understood after it."""
    if policy is None or not subject.regions:
        return []
    chars = list(clause.text[anchor.end - clause.start :])
    for h in hits:  # triggers and joined qualifiers after the anchor are understood words
        for i in range(max(h.start, anchor.end), h.end):
            if i - anchor.end < len(chars):
                chars[i - anchor.end] = " "
    rest = "".join(chars)
    for word in policy.ignore:
        rest = rest.replace(word, " ")
    said = [m for m in _CJK.finditer(rest)]
    if len(said) < policy.min_chars:
        return []
    start, end = anchor.end + said[0].start(), anchor.end + said[-1].end()
    hit = CueHit(
        UNLISTED,
        CueKind.FINDING,
        start,
        end,
        clause.text[start - clause.start : end - clause.start],
    )
    modifiers = tuple(s.trigger for s in scopes if s.covers(hit))
    if any(m.kind is CueKind.SUPPRESS for m in modifiers):
        return []
    state = _state(CueKind.FINDING, modifiers)
    if state is not State.NEGATIVE:  # hedged or not, unknown wording gets the policy's state
        state = min(state, policy.state, key=lambda s: s.rank)
    span = Span(clause.start, clause.end)
    return [Assertion(hit, subject.regions, state, RegionFrom.ANCHOR, anchor, modifiers, span)]


def _sentence_scope(
    assertions: list[Assertion],
    triggers: Sequence[tuple[CueHit, CompiledRule]],
) -> list[Assertion]:
    """Apply `scope: sentence` uncertainty cues (体外物品) to the whole sentence."""
    out = []
    for a in assertions:
        reaching = [
            hit
            for hit, rule in triggers
            if (a.hit.end <= hit.start and rule.direction is not Direction.FORWARD)
            or (a.hit.start >= hit.end and rule.direction is not Direction.BACKWARD)
        ]
        out.append(_hedge(a, reaching))
    return out


# how far into its clause a trigger may stand and still open it (本次未见显示, 现已吸收)
_OPENING = 3


def _dangling_triggers(
    clause: Clause, hits: Sequence[CueHit], rules: Mapping[str, CompiledRule]
) -> tuple[CueHit, ...]:
    """Backward triggers that open a clause with nothing to cover in it (…结节影，本次未见显示 /
    …少量积液，不除外): they speak of the previous clause. One deep inside a clause of its own
    (考虑卧位投照因素所致可能) hedges that clause's words, not the finding before it."""
    content = [h for h in hits if h.kind in (CueKind.FINDING, CueKind.NORMAL, CueKind.ANCHOR)]
    out = []
    for h in hits:
        rule = rules[h.rule_id]
        if h.kind not in (CueKind.NEGATION, CueKind.UNCERTAINTY) or rule.implies or rule.regions:
            continue
        if h.start - clause.start > _OPENING:
            continue
        before = any(c.start < h.start for c in content)
        after = any(c.start >= h.end for c in content)
        if rule.direction is Direction.BACKWARD and not before:
            out.append(h)
        elif rule.direction is Direction.BOTH and not before and not after:
            out.append(h)
    return tuple(out)


def _hedge(a: Assertion, triggers: Sequence[CueHit]) -> Assertion:
    if a.hit.kind is not CueKind.FINDING:
        return a
    mods = a.modifiers + tuple(t for t in triggers if t not in a.modifiers)
    return replace(a, modifiers=mods, state=_state(a.hit.kind, mods))


def assertions_for(
    clauses: Sequence[Clause],
    clause_hits: Sequence[Sequence[CueHit]],
    rules: Mapping[str, CompiledRule],
    policy: UnlistedPredicate | None = None,
    silent: Collection[str] = (),
) -> list[Assertion]:
    """All assertions of a report, in text order. `clause_hits` are in absolute offsets.
    Clauses of `silent` sections (the clinical history) assert nothing."""
    out: list[Assertion] = []
    carry = Carry()
    section = None
    sentence: list[Assertion] = []
    sentence_triggers: list[tuple[CueHit, CompiledRule]] = []
    current = None
    previous: list[Assertion] = []  # the previous clause's assertions, same sentence
    for clause, hits in zip(clauses, clause_hits, strict=True):
        if clause.section != section:
            carry, section = Carry(), clause.section
        if clause.section in silent:
            continue
        if (clause.section, clause.sentence) != current:
            out += _sentence_scope(sentence, sentence_triggers) if sentence_triggers else sentence
            sentence, sentence_triggers, previous = [], [], []
            current = (clause.section, clause.sentence)
        dangling = _dangling_triggers(clause, hits, rules)
        if dangling and previous:
            sentence = sentence[: -len(previous)] + [_hedge(a, dangling) for a in previous]
        if clause.opens_item and carry.outside:
            carry = Carry()  # a new list item names its own anatomy
        found, carry = _clause_assertions(clause, hits, rules, carry, policy)
        previous = found
        sentence += found
        sentence_triggers += [
            (h, rules[h.rule_id])
            for h in hits
            if h.kind is CueKind.UNCERTAINTY and rules[h.rule_id].scope is Scope.SENTENCE
        ]
    out += _sentence_scope(sentence, sentence_triggers) if sentence_triggers else sentence
    return out

"""Context: turn cue hits into assertions — which regions a finding or normal statement is about,
and whether a negation, uncertainty or suppressing cue covers it.

Region choice for a finding or normal cue, first that applies:
  fixed     the rule's own `regions` (主动脉结突出 → aorta);
  anchor    the latest anchor before it in the clause (心影 … 增大 → heart), unless that is a
            whole-film word (胸片, 余) and the rule has regions of its own (胸片未见骨折), or
  context   the regions of the latest resolved cue before it (主动脉结突出并见钙化 → aorta);
  implied   the rule's `implies` (斑片影 → lungs, 积液 → diaphragm);
  anchor    the first anchor after it in the clause (… 见于右下肺);
  carried   the region the previous clause ended on (右下肺见斑片影，边缘模糊);
  fallback  the rule's `fallback` (钙化 alone is in the lungs, but 主动脉结增宽，可见钙化 is not).
An anchor with no regions (纵隔, 气管) sets the context to "no region", so what follows it is
about nothing the labels track. An uncertainty cue with `implies` (体外物品) also asserts an
uncertain shadow of its own, in the region named before it or else the implied one.
Trigger scopes run to the clause edge or a terminator; rules with `scope: sentence` reach across
the clauses of their sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from labeler.match import CompiledRule
from labeler.packs import Direction, Scope
from labeler.types import Assertion, Clause, CueHit, CueKind, Span, State


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
        if h.kind not in (CueKind.NEGATION, CueKind.UNCERTAINTY, CueKind.SUPPRESS):
            continue
        if rule.direction in (Direction.FORWARD, Direction.BOTH):
            end = min((s.start for s in stops if s.start >= h.end), default=clause.end)
            scopes.append(TriggerScope(h, h.end, end))
        if rule.direction in (Direction.BACKWARD, Direction.BOTH):
            start = max((s.end for s in stops if s.end <= h.start), default=clause.start)
            scopes.append(TriggerScope(h, start, h.start))
    return scopes


def _state(kind: CueKind, modifiers: Sequence[CueHit]) -> State:
    kinds = {m.kind for m in modifiers}
    if kind is CueKind.NORMAL:
        return State.NEGATIVE
    if CueKind.UNCERTAINTY in kinds or kind is CueKind.UNCERTAINTY:
        return State.UNCERTAIN
    if CueKind.NEGATION in kinds:
        return State.NEGATIVE
    return State.POSITIVE


def _clause_assertions(
    clause: Clause,
    hits: Sequence[CueHit],
    rules: Mapping[str, CompiledRule],
    carry: tuple[str, ...] | None,
) -> tuple[list[Assertion], tuple[str, ...] | None]:
    scopes = _clause_scopes(clause, hits, rules)
    anchors = [h for h in hits if h.kind is CueKind.ANCHOR]
    context: tuple[str, ...] | None = None
    context_hit: CueHit | None = None
    context_how = "anchor"
    out: list[Assertion] = []
    previous: CueHit | None = None
    whole_film = False
    for hit in hits:
        rule = rules[hit.rule_id]
        joined = previous is not None and previous.end == hit.start
        if hit.kind is CueKind.CONJUNCTION:
            previous = hit if joined and previous.kind is CueKind.ANCHOR else None
            continue
        if hit.kind is CueKind.ANCHOR:
            if joined and context is not None and not whole_film:
                # 两肺及心膈 / 心影、主动脉: one subject naming several regions
                context = context + tuple(r for r in rule.regions if r not in context)
            else:
                # 余心肺膈: a whole-film word followed by anatomy means that anatomy only
                context = rule.regions
            whole_film = rule.whole_film
            context_hit, context_how = hit, "anchor"
            previous = hit
            continue
        previous = None
        # an uncertainty cue with regions of its own (体外物品) is itself a hedged shadow
        hedged_shadow = hit.kind is CueKind.UNCERTAINTY and bool(rule.implies or rule.regions)
        if hit.kind not in (CueKind.FINDING, CueKind.NORMAL) and not hedged_shadow:
            continue
        anchor = None
        keeps_context = False
        if rule.regions:
            regions, how = rule.regions, "fixed"
        elif whole_film and rule.implies and context_how == "anchor":
            # 胸片未见骨折 is about the ribs, not every region; 胸片未见病变 is about all
            regions, how, keeps_context = rule.implies, "implied", True
        elif context is not None and (context or not hedged_shadow):
            regions, how = context, context_how
            anchor = context_hit if context_how == "anchor" else None
        elif rule.implies:
            regions, how = rule.implies, "implied"
        elif (after := next((a for a in anchors if a.start >= hit.end), None)) is not None:
            regions, how, anchor = rules[after.rule_id].regions, "anchor", after
        elif carry:
            regions, how = carry, "carried"
        elif rule.fallback:
            regions, how = rule.fallback, "fallback"
        else:
            regions, how = (), "none"
        if regions and not keeps_context:
            context, whole_film = regions, whole_film and how == "anchor"
            context_hit, context_how = (anchor, "anchor") if anchor else (hit, "context")
        modifiers = tuple(s.trigger for s in scopes if s.covers(hit))
        if any(m.kind is CueKind.SUPPRESS for m in modifiers) or not regions:
            continue
        out.append(
            Assertion(
                hit,
                regions,
                _state(hit.kind, modifiers),
                how,
                anchor,
                modifiers,
                Span(clause.start, clause.end),
            )
        )
    return out, (context if context is not None else carry)


def _sentence_scope(
    assertions: list[Assertion],
    triggers: Sequence[tuple[CueHit, CompiledRule]],
) -> list[Assertion]:
    """Apply `scope: sentence` uncertainty cues (体外物品) to the whole sentence."""
    out = []
    for a in assertions:
        mods = list(a.modifiers)
        for hit, rule in triggers:
            before = a.hit.end <= hit.start
            after = a.hit.start >= hit.end
            reaches = (before and rule.direction is not Direction.FORWARD) or (
                after and rule.direction is not Direction.BACKWARD
            )
            if reaches and hit not in mods:
                mods.append(hit)
        if len(mods) != len(a.modifiers) and a.hit.kind is CueKind.FINDING:
            a = replace(a, modifiers=tuple(mods), state=_state(a.hit.kind, mods))
        out.append(a)
    return out


def assertions_for(
    clauses: Sequence[Clause],
    clause_hits: Sequence[Sequence[CueHit]],
    rules: Mapping[str, CompiledRule],
) -> list[Assertion]:
    """All assertions of a report, in text order. `clause_hits` are in absolute offsets."""
    out: list[Assertion] = []
    carry: tuple[str, ...] | None = None
    section = None
    sentence: list[Assertion] = []
    sentence_triggers: list[tuple[CueHit, CompiledRule]] = []
    current = None
    for clause, hits in zip(clauses, clause_hits, strict=True):
        if clause.section != section:
            carry, section = None, clause.section
        if (clause.section, clause.sentence) != current:
            out += _sentence_scope(sentence, sentence_triggers) if sentence_triggers else sentence
            sentence, sentence_triggers = [], []
            current = (clause.section, clause.sentence)
        found, carry = _clause_assertions(clause, hits, rules, carry)
        sentence += found
        sentence_triggers += [
            (h, rules[h.rule_id])
            for h in hits
            if h.kind is CueKind.UNCERTAINTY and rules[h.rule_id].scope is Scope.SENTENCE
        ]
    out += _sentence_scope(sentence, sentence_triggers) if sentence_triggers else sentence
    return out

"""Checks a pack can pass validation and still be wrong about: token-bounded terms jieba splits,
terms that never fire (another rule's pattern or identical term wins), terms a longer cue of
another kind hides, rules no example fires, and normal and abnormal cue lists that collide."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import regex

from labeler.labeler import Labeler
from labeler.packs import Boundary, Sourced, short_where
from labeler.packtest import example_cases
from labeler.types import CueKind

_STATED = {CueKind.NORMAL: "normal", CueKind.FINDING: "abnormal"}


@dataclass(frozen=True)
class LintFinding:
    check: str  # a name in CHECKS
    where: str  # file:line of the rule concerned, as the pack records it
    rule_id: str
    message: str
    fix: str = ""  # a concrete edit that resolves it, when one is known


def _terms(labeler: Labeler, sourced: Sourced) -> list[str]:
    return [labeler.normalizer(t).text for t in sourced.item.terms]


def token_split(labeler: Labeler) -> Iterator[LintFinding]:
    """A term of a `boundary: token` rule that jieba cuts into pieces on its own: in a report
    its edges are token boundaries only by luck, so the rule rarely or never matches."""
    for s in labeler.pack.rules:
        if s.item.boundary is not Boundary.TOKEN:
            continue
        for term in _terms(labeler, s):
            pieces = [t for t, _, _ in labeler.tokenizer.tokens(term)]
            if len(pieces) > 1:
                yield LintFinding(
                    "token_split",
                    s.where,
                    s.item.id,
                    f"jieba splits token-bounded term {term!r} into {' / '.join(pieces)}",
                    f"add to the pack's dictionary: - {term}",
                )


def shadowed(labeler: Labeler) -> Iterator[LintFinding]:
    """A term inside a longer term of a rule of another kind: wherever the longer one occurs it
    wins, as a hit inside a longer hit is dropped. Usually meant (对称 in 不对称, 未见 in
    未见明显变化), so this only informs; an overlay author reads it for the terms they added."""
    rules = list(labeler.pack.rules)
    terms = {s.item.id: _terms(labeler, s) for s in rules}
    for s in rules:
        for term in terms[s.item.id]:
            for other in rules:
                if other.item.kind is s.item.kind:
                    continue
                longer = next((u for u in terms[other.item.id] if term in u and u != term), None)
                if longer:
                    yield LintFinding(
                        "shadowed",
                        s.where,
                        s.item.id,
                        f"term {term!r} ({s.item.kind.value}) is hidden inside {longer!r} of "
                        f"{other.item.id} ({other.item.kind.value}) wherever that occurs",
                    )


def _owners(labeler: Labeler) -> Iterator[tuple[Sourced, str, str, Sourced, str]]:
    """(rule, raw term, normalised term, winning rule, why) for every term that never fires:
    another rule has the same normalised term (the matcher keeps the first), or another rule's
    pattern matches the term whole (patterns are tried before terms at each position)."""
    owner: dict[str, Sourced] = {}
    for s in labeler.pack.rules:
        for raw, term in zip(s.item.terms, _terms(labeler, s), strict=True):
            first = owner.setdefault(term, s)
            if first is not s:
                why = f"it normalises to {term!r}, already a term of {first.item.id}"
                yield s, raw, term, first, why
    for s in labeler.pack.rules:
        for raw, term in zip(s.item.terms, _terms(labeler, s), strict=True):
            for other in labeler.pack.rules:
                pats = [p for p in other.item.patterns if regex.fullmatch(p, term)]
                if other is not s and pats:
                    why = f"pattern {pats[0]!r} of {other.item.id}, tried first, matches it whole"
                    yield s, raw, term, other, why


def dead_terms(labeler: Labeler) -> Iterator[LintFinding]:
    """Terms that never fire, between rules that state the same kind of thing."""
    for s, raw, _, winner, why in _owners(labeler):
        if not _opposed(s, winner):
            yield LintFinding(
                "dead_term",
                s.where,
                s.item.id,
                f"term {raw!r} never fires: {why} ({short_where(winner.where)})",
                f"remove {raw!r} from {s.item.id}",
            )


def _opposed(a: Sourced, b: Sourced) -> bool:
    return {a.item.kind, b.item.kind} == set(_STATED)


def unexercised(labeler: Labeler) -> Iterator[LintFinding]:
    """Rules that no inline example of the pack (or of what it extends) makes fire."""
    fired = set()
    for case in example_cases(labeler):
        for hits in labeler.analyse(case.text).hits:
            fired.update(h.rule_id for h in hits)
    for s in labeler.pack.rules:
        if s.item.id not in fired:
            yield LintFinding(
                "unexercised",
                s.where,
                s.item.id,
                "no inline example fires this rule",
                "add an `examples:` entry whose text contains one of its terms",
            )


def normal_abnormal(labeler: Labeler) -> Iterator[LintFinding]:
    """A normal and an abnormal cue list that overlap: a term of one that never fires because
    the other has it (after normalisation) or matches it whole with a pattern. Which state the
    text gets then depends on rule order, not on what the author declared."""
    for s, raw, _, winner, why in _owners(labeler):
        if _opposed(s, winner):
            yield LintFinding(
                "normal_abnormal",
                s.where,
                s.item.id,
                f"{_STATED[s.item.kind]} term {raw!r} is read as "
                f"{_STATED[winner.item.kind]}: {why} ({short_where(winner.where)})",
                f"keep {raw!r} in one of {s.item.id}, {winner.item.id}",
            )


CHECKS = {
    "token_split": token_split,
    "dead_term": dead_terms,
    "normal_abnormal": normal_abnormal,
    "unexercised": unexercised,
    "shadowed": shadowed,
}
# findings of every check but these make `rules lint` fail
INFORMATIONAL = frozenset({"shadowed"})


def lint(labeler: Labeler, checks: tuple[str, ...] = tuple(CHECKS)) -> list[LintFinding]:
    return [f for name in checks for f in CHECKS[name](labeler)]

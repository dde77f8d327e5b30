"""Cue matching: every term and pattern of a pack in one compiled alternation.

Patterns are tried before terms and terms longest first (the terms as a prefix tree), so at one
position the most specific cue wins. Matching is overlapped (肋骨骨折 yields 肋骨 and 骨折); a hit
lying wholly inside a longer hit is dropped (对称 inside 不对称, 积液 inside 心包积液).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import regex

from labeler.packs import ALL_REGIONS, Boundary, Direction, Rule, Scope
from labeler.tokenize import Tokenizer
from labeler.types import CueHit, CueKind

# Matching a clause may take this long, plus this much per character, before it is given up.
MATCH_SECONDS = 1.0
MATCH_SECONDS_PER_CHAR = 5e-5


class MatchTimeout(RuntimeError):
    """Cue matching of one clause ran past its time limit."""


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its region lists expanded, as the context stage needs it."""

    id: str
    kind: CueKind
    regions: tuple[str, ...]
    implies: tuple[str, ...]
    fallback: tuple[str, ...]
    direction: Direction
    scope: Scope
    boundary: Boundary
    whole_film: bool  # regions: ["*"] — the whole film rather than particular regions
    outside: bool = False  # anatomy outside the chest (腰椎, 腹主动脉)
    generic: bool = False  # anatomy of any body part (椎体, 骨质): the outside part's after one
    outranks: tuple[str, ...] = ()  # implied regions win over an anchor naming only these


def _expand(regions: Sequence[str], region_ids: Sequence[str]) -> tuple[str, ...]:
    if ALL_REGIONS in regions:
        return tuple(region_ids)
    return tuple(r for r in region_ids if r in regions)


class Matcher:
    def __init__(
        self,
        rules: Sequence[Rule],
        region_ids: Sequence[str],
        normalize_term: Callable[[str], str],
        tokenizer: Tokenizer,
    ) -> None:
        self.rules: dict[str, CompiledRule] = {}
        self._tokenizer = tokenizer
        self._pattern_rule: list[str] = []
        self._term_rule: dict[str, str] = {}
        parts: list[str] = []
        for rule in rules:
            self.rules[rule.id] = CompiledRule(
                rule.id,
                rule.kind,
                _expand(rule.regions, region_ids),
                _expand(rule.implies, region_ids),
                _expand(rule.fallback, region_ids),
                rule.direction,
                rule.scope,
                rule.boundary,
                ALL_REGIONS in rule.regions,
                rule.outside,
                rule.generic,
                _expand(rule.outranks, region_ids),
            )
            for pat in rule.patterns:
                parts.append(f"(?P<p{len(self._pattern_rule)}>{pat})")
                self._pattern_rule.append(rule.id)
            for term in rule.terms:
                self._term_rule.setdefault(normalize_term(term), rule.id)
        if self._term_rule:
            parts.append(f"(?P<lit>{_trie_pattern(self._term_rule)})")
        self._regex = regex.compile("|".join(parts)) if parts else None
        self.hits = lru_cache(maxsize=131072)(self._hits)

    def rule_of(self, m: regex.Match) -> str:
        group = m.lastgroup
        if group == "lit":
            return self._term_rule[m.group()]
        return self._pattern_rule[int(group[1:])]

    def _matches(self, text: str) -> list[tuple[int, str, str]]:
        """(start, text, rule id) of every overlapped match, within a time limit that grows
        with the clause: a pattern that backtracks without end fails this report (an error
        row), it does not hang the run."""
        assert self._regex is not None
        limit = MATCH_SECONDS + MATCH_SECONDS_PER_CHAR * len(text)
        try:
            return [
                (m.start(), m.group(), self.rule_of(m))
                for m in self._regex.finditer(text, overlapped=True, timeout=limit)
            ]
        except TimeoutError as exc:
            raise MatchTimeout(
                f"cue matching gave up after {limit:.1f} s on a clause of {len(text)} characters "
                "(a rule pattern that backtracks without end?)"
            ) from exc

    def _hits(self, text: str) -> tuple[CueHit, ...]:
        """Cue hits in `text` (a clause), offsets relative to it, sorted by position."""
        if self._regex is None:
            return ()
        found: list[CueHit] = []
        bounds: frozenset[int] | None = None
        for start, cue, rule_id in self._matches(text):
            rule = self.rules[rule_id]
            while rule.boundary is Boundary.TOKEN:
                if bounds is None:
                    bounds = self._tokenizer.boundaries(text)
                if start in bounds and start + len(cue) in bounds:
                    break
                # 膈下 across 膈/下降: the longest shorter term here may still stand (膈)
                cue = next((t for t in _prefixes(cue) if t in self._term_rule), "")
                if not cue:
                    break
                rule = self.rules[self._term_rule[cue]]
            if cue:
                found.append(CueHit(rule.id, rule.kind, start, start + len(cue), cue))
        return _outside_longer(found)


def _prefixes(text: str) -> Iterator[str]:
    """The proper prefixes of `text`, longest first."""
    return (text[:end] for end in range(len(text) - 1, 0, -1))


def _trie_pattern(terms: Iterable[str]) -> str:
    """The terms as one regex shaped like their prefix tree, longest match first.

    Same matches as the flat alternation of the terms sorted longest first, but each position
    is tried one character at a time instead of once per term: with ~900 terms, half the time.
    """
    trie: dict = {}
    for term in terms:
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}  # no character is empty: the key marks the end of a term

    def pattern(node: dict) -> str:
        branches = [regex.escape(c) + pattern(node[c]) for c in sorted(node) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        # a term ends here: the greedy ? tries the longer terms first, then stops
        return f"(?:{body})?" if "" in node else body

    return pattern(trie)


def _outside_longer(hits: Sequence[CueHit]) -> tuple[CueHit, ...]:
    """The hits not lying wholly inside a longer hit, in their order: one pass over the spans
    sorted by start (longest first), keeping the furthest end seen so far, so a clause of a
    million characters costs a sort, not hits × hits comparisons."""
    order = sorted(range(len(hits)), key=lambda i: (hits[i].start, -hits[i].end))
    inside = [False] * len(hits)
    reach = -1  # the furthest end of the spans before the current one
    span_reach = -1  # the same, before the first hit of the current span
    last: tuple[int, int] | None = None
    for i in order:
        span = (hits[i].start, hits[i].end)
        if span != last:
            span_reach, last = reach, span
        # an earlier span starts at or before this one; reaching its end it is longer,
        # since an equal span is the same span
        inside[i] = span_reach >= span[1]
        reach = max(reach, span[1])
    return tuple(h for h, drop in zip(hits, inside, strict=True) if not drop)

"""rule_hits.csv: per rule, how often it fired, in how many reports, and a few sentences."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from labeler.audit.record import ReportRecord
from labeler.packs import Pack, short_where


@dataclass(frozen=True)
class RuleHits:
    rule_id: str
    kind: str
    where: str  # file:line of the rule in the pack
    hits: int
    reports: int
    examples: tuple[str, ...]  # distinct sentences it fired in, first seen first


class HitTally:
    """Counts hits per rule over a stream of records."""

    def __init__(self, examples: int = 3) -> None:
        self._examples = examples
        self._hits: Counter[str] = Counter()
        self._reports: Counter[str] = Counter()
        self._sentences: dict[str, list[str]] = {}

    def add(self, record: ReportRecord) -> None:
        self._hits.update(h.rule_id for h in record.hits)
        self._reports.update({h.rule_id for h in record.hits})
        for h in record.hits:
            seen = self._sentences.setdefault(h.rule_id, [])
            if len(seen) < self._examples:
                start, end = record.clauses[h.clause].sentence
                sentence = record.text[start:end].strip()
                if sentence not in seen:
                    seen.append(sentence)

    def merge(self, later: HitTally) -> None:
        """Fold in the tally of the records that follow this one's."""
        self._hits.update(later._hits)
        self._reports.update(later._reports)
        for rule_id, sentences in later._sentences.items():
            seen = self._sentences.setdefault(rule_id, [])
            seen += [s for s in sentences if s not in seen][: self._examples - len(seen)]

    def rows(self, pack: Pack) -> tuple[RuleHits, ...]:
        """Every rule of the pack, most hits first; rules that never fired are listed too, as
        they are the candidates for removal or for a wording this corpus does not use."""
        rows = [
            RuleHits(
                s.item.id,
                s.item.kind.value,
                short_where(s.where),
                self._hits[s.item.id],
                self._reports[s.item.id],
                tuple(self._sentences.get(s.item.id, ())),
            )
            for s in pack.rules
        ]
        return tuple(sorted(rows, key=lambda r: (-r.hits, r.rule_id)))

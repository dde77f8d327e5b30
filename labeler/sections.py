"""Sections (findings / impression), sentences and clauses, with offsets into normalised text.

Headings come from the pack. Sentences end at 。; ! ? and newlines, at a '.' not inside a number,
and before list markers (1. / 2、 / (3)). Clauses end at commas and at runs of spaces, which
reports use as separators, but not between Latin letters or digits. Trailing sentence
punctuation stays in its clause because '?' is an uncertainty cue.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import regex

from labeler.types import Clause

_SENTENCE_END = r"[。;!?\n]+|(?<!\d)\.(?!\d)"
_LIST_MARKER = r"(?:(?<=[\s,])|^)(?=\(?\d{1,2}[.、)](?!\d))"
# spaces separate clauses, except inside English or numbers (CTR 0.46, NO ACTIVE LESION)
_CLAUSE_END = r",\s*|(?<![A-Z0-9.])\s+|\s+(?![A-Z0-9])"

_ITEM = regex.compile(r"\s*\(?\d{1,2}[.、)](?!\d)")

_SPLIT = regex.compile(
    f"(?P<sent>(?:{_SENTENCE_END})\\s*)|(?P<list>{_LIST_MARKER})|(?P<clause>{_CLAUSE_END})"
)


def _clause(text: str, start: int, end: int, sentence: int, section: str) -> Clause:
    opens_item = _ITEM.match(text, start, end) is not None
    return Clause(text[start:end], start, end, sentence, section, opens_item)


class Sectioner:
    """Splits normalised text into clauses tagged with their section and sentence number."""

    def __init__(
        self, headings: Mapping[str, Sequence[str]], line_sections: Collection[str] = ()
    ) -> None:
        # header fields (临床诊断：…, 检查部位：…) end with their line; the report goes on after it
        self._line_sections = frozenset(line_sections)
        self._section_of: dict[str, str] = {}
        for section, words in headings.items():
            for word in words:
                self._section_of[word] = section
        if self._section_of:
            words = sorted(self._section_of, key=len, reverse=True)
            alt = "|".join(regex.escape(w) for w in words)
            self._heading = regex.compile(rf"[\[【]?(?P<h>{alt})[\]】]?\s*:|【(?P<h2>{alt})】")
        else:
            self._heading = None

    def sections(self, text: str) -> list[tuple[str, int, int]]:
        """(section, start, end) of each part of the text; 'body' before any heading."""
        if self._heading is None:
            return [("body", 0, len(text))]
        parts: list[tuple[str, int, int]] = []
        current, start = "body", 0
        for m in self._heading.finditer(text):
            if m.start() > start or current != "body":
                parts.append((current, start, m.start()))
            current = self._section_of[m.group("h") or m.group("h2")]
            start = m.end()
        parts.append((current, start, len(text)))
        return [q for p in parts for q in self._end_fields(text, *p) if q[2] > q[1]]

    def _end_fields(
        self, text: str, section: str, start: int, end: int
    ) -> list[tuple[str, int, int]]:
        if section not in self._line_sections:
            return [(section, start, end)]
        first = start + len(text[start:end]) - len(text[start:end].lstrip())
        line_end = text.find("\n", first, end)
        if line_end < 0:
            return [(section, start, end)]
        return [(section, start, line_end), ("body", line_end, end)]

    def clauses(self, text: str) -> list[Clause]:
        out: list[Clause] = []
        sentence = 0
        for section, sec_start, sec_end in self.sections(text):
            pos = sec_start
            for m in _SPLIT.finditer(text, sec_start, sec_end):
                kind = m.lastgroup
                end = m.end() if kind == "sent" else m.start()
                if end > pos and text[pos:end].strip():
                    out.append(_clause(text, pos, end, sentence, section))
                pos = m.end()
                if kind in ("sent", "list"):
                    sentence += 1
            if sec_end > pos and text[pos:sec_end].strip():
                out.append(_clause(text, pos, sec_end, sentence, section))
            sentence += 1
        return out

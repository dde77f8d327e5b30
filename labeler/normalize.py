"""Normalisation: one character table (NFKC width folding, traditional → simplified, ASCII case)
and the pack's replacement table, with a map from every normalised character back to the
original text so evidence spans point at what the radiologist wrote."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import opencc
import regex

from labeler.packs import NormalizeEntry


@dataclass(frozen=True)
class NormalizedText:
    text: str
    original: str
    # source span of each normalised character; None when normalisation kept lengths (identity)
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span of the normalised span [start, end)."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


class _CharTable(dict):
    """str.translate table filled on first sight of each character; keeps lengths 1:1."""

    def __init__(self) -> None:
        super().__init__()
        self._t2s = opencc.OpenCC("t2s")

    def __missing__(self, code: int) -> int:
        char = chr(code)
        out = char
        if char == "\n" or char == "\r":
            out = "\n"
        elif char.isspace():
            out = " "
        else:
            folded = unicodedata.normalize("NFKC", char)
            if len(folded) == 1:
                out = folded
            simple = self._t2s.convert(out)
            if len(simple) == 1:
                out = simple
            if out.isascii():
                out = out.upper()
        self[code] = ord(out)
        return self[code]


_STRAY_SPACE = r"(?P<space>(?<=(?P<left>\p{Han})) +(?=(?P<right>\p{Han})))"


class Normalizer:
    """Applies the character table, then the pack's replacement entries in one pass.

    Spaces between two Chinese characters separate clauses, unless the two characters belong
    together in some cue term (`joinable` bigrams: 心 影 → 心影), when the space is a stray.
    """

    def __init__(self, entries: Iterable[NormalizeEntry], joinable: Collection[str] = ()) -> None:
        self._chars = _CharTable()
        self._joinable = frozenset(joinable)
        self._targets: list[str] = []
        parts = []
        for i, entry in enumerate(entries):
            source = entry.pattern if entry.pattern is not None else regex.escape(entry.term or "")
            parts.append(f"(?P<n{i}>{source})")
            self._targets.append(entry.to)
        if self._joinable:
            parts.append(_STRAY_SPACE)
        self._pattern = regex.compile("|".join(parts)) if parts else None

    def _target(self, m: regex.Match) -> str:
        if m.lastgroup == "space":
            pair = m.group("left") + m.group("right")
            return "" if pair in self._joinable else " "
        return self._targets[int(m.lastgroup[1:])]

    def fold(self, text: str) -> str:
        """The character table alone (used on pack terms so they compare with folded text)."""
        return text.translate(self._chars)

    def __call__(self, text: str) -> NormalizedText:
        folded = text.translate(self._chars)
        if self._pattern is None:
            return NormalizedText(folded, text)
        pieces: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        changed = False
        for m in self._pattern.finditer(folded):
            target = self._target(m)
            if target == m.group():
                continue
            changed = True
            pieces.append(folded[pos : m.start()])
            starts.extend(range(pos, m.start()))
            ends.extend(range(pos + 1, m.start() + 1))
            pieces.append(target)
            starts.extend([m.start()] * len(target))
            ends.extend([m.end()] * len(target))
            pos = m.end()
        if not changed:
            return NormalizedText(folded, text)
        pieces.append(folded[pos:])
        starts.extend(range(pos, len(folded)))
        ends.extend(range(pos + 1, len(folded) + 1))
        return NormalizedText("".join(pieces), text, tuple(starts), tuple(ends))

"""jieba tokenisation with the pack's user dictionary, on a private jieba.Tokenizer.

The dictionary keeps anatomy and finding words whole (肋膈角, 主动脉结, 实变影); cues marked
`boundary: token` must start and end on these token boundaries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

import jieba

jieba.setLogLevel(logging.WARNING)


@lru_cache(maxsize=8)
def _jieba_with(words: tuple[str, ...]) -> jieba.Tokenizer:
    """One loaded jieba per word list and process: the dictionary load costs ~0.5 s."""
    tk = jieba.Tokenizer()
    tk.initialize()
    for word in words:
        tk.add_word(word)
    return tk


class Tokenizer:
    def __init__(self, words: Iterable[str]) -> None:
        self._words = tuple(words)
        self.tokens = lru_cache(maxsize=65536)(self._tokens)

    def _ready(self) -> jieba.Tokenizer:
        # loaded on first use: only boundary checks and `explain` need tokens
        return _jieba_with(self._words)

    def _tokens(self, text: str) -> tuple[tuple[str, int, int], ...]:
        """(word, start, end) per token; HMM off, so only dictionary words join characters."""
        return tuple(self._ready().tokenize(text, HMM=False))

    def boundaries(self, text: str) -> frozenset[int]:
        return _boundaries(self.tokens(text))


@lru_cache(maxsize=65536)
def _boundaries(tokens: tuple[tuple[str, int, int], ...]) -> frozenset[int]:
    out = {0}
    for _, start, end in tokens:
        out.add(start)
        out.add(end)
    return frozenset(out)

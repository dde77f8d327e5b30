"""The labeling pipeline: normalise → clauses → cue hits → assertions → region decisions.

Reports in real corpora repeat whole texts and template sentences, so results are cached by
report text and cue hits by clause text.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from typing import Any

from labeler.context import assertions_for
from labeler.match import Matcher
from labeler.normalize import NormalizedText, Normalizer
from labeler.packs import Pack, load_pack
from labeler.resolve import decide
from labeler.sections import Sectioner
from labeler.tokenize import Tokenizer
from labeler.types import Assertion, Clause, CueHit, LabelResult, RegionDecision, Report, State
from toolkit.procs import die_with_parent


@dataclass(frozen=True)
class Analysis:
    """Every intermediate of one report, for `explain` and audits."""

    normalized: NormalizedText
    clauses: tuple[Clause, ...]
    hits: tuple[tuple[CueHit, ...], ...]  # per clause, absolute offsets in normalised text
    assertions: tuple[Assertion, ...]
    decisions: tuple[RegionDecision, ...]


def _text_of(value: object) -> str:
    """Report text from a cell: NaN/None/blank become the empty report."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


class Labeler:
    """Labels reports with a rule pack; `Labeler()` uses the shipped base pack.

    Constructing one loads and checks the pack only. The compiled state (the OpenCC converter,
    jieba with the pack's dictionary, the cue matcher and the caches: `normalizer`, `tokenizer`,
    `sectioner`, `matcher`) is built on first use, once per process: a Labeler pickles as its
    pack, and every unpickled copy of one Labeler in a process shares one compiled state, so it
    can be shipped to Spark or Dask workers and built there once per worker.
    """

    def __init__(self, pack: Pack | str | Path = "base") -> None:
        self.pack = pack if isinstance(pack, Pack) else load_pack(pack)
        self.regions = self.pack.region_ids
        self._key: str | None = None  # the pack's digest, set when first pickled

    def __getattr__(self, name: str) -> Any:
        # Called only for attributes not set yet: the compiled state is built on first use.
        if name not in _COMPILED or "pack" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        state = _SHARED.get(self._key) if self._key else None
        if state is None:
            state = self._compile()
            if self._key:
                _share(self._key, state)
        self.__dict__.update(state)
        return state[name]

    def _compile(self) -> dict[str, Any]:
        normalizer = Normalizer((s.item for s in self.pack.normalize), _term_bigrams(self.pack))
        tokenizer = Tokenizer(normalizer(w).text for w in self.pack.dictionary)
        return {
            "normalizer": normalizer,
            "tokenizer": tokenizer,
            "sectioner": Sectioner(self.pack.headings, self.pack.silent_sections),
            "matcher": Matcher(
                [s.item for s in self.pack.rules],
                self.regions,
                lambda term: normalizer(term).text,
                tokenizer,
            ),
            "_decide": lru_cache(maxsize=65536)(self._decide_uncached),
        }

    def __getstate__(self) -> dict[str, Any]:
        if self._key is None:
            self._key = hashlib.sha256(pickle.dumps(self.pack, protocol=5)).hexdigest()
        if "_decide" in self.__dict__ and self._key not in _SHARED:
            _share(self._key, {name: self.__dict__[name] for name in _COMPILED})
        return {"pack": self.pack, "key": self._key}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.pack = state["pack"]
        self.regions = self.pack.region_ids
        self._key = state["key"]

    def __repr__(self) -> str:
        return f"Labeler(pack={self.pack.name!r}, version={self.pack.version!r})"

    def analyse(self, text: str) -> Analysis:
        norm = self.normalizer(_text_of(text))
        clauses = tuple(self.sectioner.clauses(norm.text))
        hits = tuple(
            tuple(
                CueHit(h.rule_id, h.kind, h.start + c.start, h.end + c.start, h.text)
                for h in self.matcher.hits(c.text)
            )
            for c in clauses
        )
        assertions = tuple(
            assertions_for(
                clauses,
                hits,
                self.matcher.rules,
                self.pack.unlisted_predicate,
                self.pack.silent_sections,
            )
        )
        return Analysis(norm, clauses, hits, assertions, decide(assertions, self.regions, norm))

    def _decide_uncached(self, text: str) -> tuple[RegionDecision, ...]:
        return self.analyse(text).decisions

    def label(self, report: Report | str) -> LabelResult:
        """Label one report; a failure becomes an error row, never an exception."""
        if not isinstance(report, Report):
            report = Report("", _text_of(report))
        error = report.error
        if error is None:
            try:
                return LabelResult(
                    report.report_id, report.row, self._decide(_text_of(report.text))
                )
            except Exception as exc:  # noqa: BLE001 - per-row isolation is the contract
                error = f"{type(exc).__name__}: {exc}"
        empty = tuple(RegionDecision(r, State.NOT_MENTIONED) for r in self.regions)
        return LabelResult(report.report_id, report.row, empty, error)

    def label_many(
        self,
        reports: Iterable[Report],
        workers: int = 1,
        chunk: int = 1000,
        render: Callable[[LabelResult], Any] | None = None,
    ) -> Iterator[Any]:
        """Label in input order; with workers > 1 chunks go to worker processes.

        `render` (a picklable function) turns each result into what the caller writes, inside
        the worker: shipping rendered rows back is far cheaper than pickling results.
        """
        render = render or _as_is
        if workers <= 1:
            yield from (render(self.label(r)) for r in reports)
            return
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(self.pack,)) as ex:
            for results in ex.map(_label_chunk, _chunks(reports, chunk), repeat(render)):
                yield from results


# What a Labeler builds on first use, and the states of unpickled Labelers by pack digest (one
# per pack and process; a few packs at most, so the oldest is dropped past eight).
_COMPILED = ("normalizer", "tokenizer", "sectioner", "matcher", "_decide")
_SHARED: dict[str, dict[str, Any]] = {}


def _share(key: str, state: dict[str, Any]) -> None:
    if len(_SHARED) >= 8:
        _SHARED.pop(next(iter(_SHARED)))
    _SHARED[key] = state


def _term_bigrams(pack: Pack) -> set[str]:
    """Every pair of adjacent Chinese characters inside one word of a cue term or dictionary
    word: a space inside 心 影 is a stray, but 异常 胸椎 are two statements, although the term
    正常胸片 holds 常胸 — across its words 正常|胸片."""
    tokenizer = Tokenizer(pack.dictionary)
    words = [t for s in pack.rules for t in s.item.terms] + list(pack.dictionary)
    pieces = {token for w in words for token, _, _ in tokenizer.tokens(w)}
    return {
        w[i : i + 2]
        for w in pieces
        for i in range(len(w) - 1)
        if "\u4e00" <= w[i] <= "\u9fff" and "\u4e00" <= w[i + 1] <= "\u9fff"
    }


def _chunks(reports: Iterable[Report], size: int) -> Iterator[list[tuple]]:
    # plain tuples: unpickling a frozen dataclass costs ~40 µs, ten times a tuple
    batch: list[tuple] = []
    for r in reports:
        batch.append((r.report_id, r.text, r.row, r.error))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


_WORKER: Labeler | None = None


def _init_worker(pack: Pack) -> None:
    global _WORKER
    die_with_parent()  # also under spawn/forkserver, where no fork hook runs
    _WORKER = Labeler(pack)


def _as_is(result: LabelResult) -> LabelResult:
    return result


def _label_chunk(reports: list[tuple], render: Callable[[LabelResult], Any]) -> list[Any]:
    assert _WORKER is not None
    return [render(_WORKER.label(Report(*r))) for r in reports]

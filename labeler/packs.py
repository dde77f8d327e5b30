"""Rule packs: strict YAML schema with file:line errors, `extends` overlays, merged packs.

A pack is a folder with pack.yaml (or a single YAML file). pack.yaml may `include` more files of
the same shape and `extends` other packs by name (rules/base, rules/hospitals/<name>.yaml) or path.
Overlays add rules and normalisation entries, replace them (`override: true`) and `disable` ids.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import regex
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labeler.types import CueKind, State

try:  # the standard library's regular-expression parser gives a pattern's minimum width
    from re import _parser as _sre_parser  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parser  # type: ignore[no-redef]

ALL_REGIONS = "*"
MAX_PACK_FILE_BYTES = 16 * 2**20
MAX_EXTENDS_DEPTH = 64  # packs in one `extends` chain
PATTERN_PROBE_SECONDS = 0.2  # `rules validate` gives one pattern this long on a probe text


class PackError(ValueError):
    """A rule pack that cannot be loaded; the message names file:line."""


class Direction(str, Enum):
    FORWARD = "forward"
    BACKWARD = "backward"
    BOTH = "both"


class Scope(str, Enum):
    CLAUSE = "clause"
    SENTENCE = "sentence"


class Boundary(str, Enum):
    NONE = "none"
    TOKEN = "token"  # the match must start and end on jieba token boundaries


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Example(_Strict):
    text: str
    expect: dict[str, State]


class RegionSpec(_Strict):
    id: str
    name: str


class NormalizeEntry(_Strict):
    id: str
    to: str
    term: str | None = None
    pattern: str | None = None
    override: bool = False
    description: str = ""


class Rule(_Strict):
    id: str
    kind: CueKind
    terms: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    implies: list[str] = Field(default_factory=list)
    fallback: list[str] = Field(default_factory=list)
    direction: Direction = Direction.FORWARD
    scope: Scope = Scope.CLAUSE
    boundary: Boundary = Boundary.NONE
    override: bool = False
    # anchors: anatomy outside the chest (腰椎, 膝关节, 腹主动脉); what is said of it, and of the
    # generic anatomy that follows it until chest anatomy is named again, sets nothing
    outside: bool = False
    # anchors: anatomy every body part has (椎体, 骨质, 软组织); after an outside anchor it is
    # that part's, in a chest clause the chest's
    generic: bool = False
    # findings: the implied regions win over an anchor naming only these (双肺积液 is pleural)
    outranks: list[str] = Field(default_factory=list)
    description: str = ""
    examples: list[Example] = Field(default_factory=list)

    @field_validator("terms")
    @classmethod
    def _no_empty_terms(cls, terms: list[str]) -> list[str]:
        if any(not t for t in terms):
            raise ValueError("empty term")
        return terms


class UnlistedPredicate(_Strict):
    """What a clause asserts when it names a region but no cue covers what it says about it
    (左肺见囊状透亮影: 透亮影 is in no list). `state` is what the region gets: not_mentioned keeps
    the label as it was but still records the clause in the evidence and the audit; `ignore` are
    words that are no predicate (见, 局部, 大小); fewer than `min_chars` Chinese characters left
    over is no predicate either."""

    state: State = State.NOT_MENTIONED
    ignore: list[str] = Field(default_factory=list)
    min_chars: int = Field(default=2, ge=1)
    description: str = ""


class PackFile(_Strict):
    """The schema of pack.yaml and of every file it includes."""

    name: str | None = None
    version: str | None = None
    description: str = ""
    extends: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    regions: list[RegionSpec] = Field(default_factory=list)
    headings: dict[str, list[str]] = Field(default_factory=dict)
    # sections whose clauses set nothing: the clinical question (临床诊断：肺炎?) is no finding
    silent_sections: list[str] = Field(default_factory=list)
    dictionary: list[str] = Field(default_factory=list)
    normalize: list[NormalizeEntry] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    unlisted_predicate: UnlistedPredicate | None = None


@dataclass(frozen=True)
class Sourced:
    """An item of a pack with the file and line it was declared at."""

    item: Any
    where: str


@dataclass(frozen=True)
class Pack:
    """A merged, validated pack: what the labeler runs."""

    name: str
    version: str
    description: str
    chain: tuple[str, ...]  # pack names, base first
    regions: tuple[RegionSpec, ...]
    headings: dict[str, tuple[str, ...]]  # section name → heading words (检查所见, 印象 …)
    dictionary: tuple[str, ...]
    normalize: tuple[Sourced, ...]
    rules: tuple[Sourced, ...]
    examples: tuple[Sourced, ...]
    unlisted_predicate: UnlistedPredicate | None = None  # None: no policy, nothing recorded
    silent_sections: tuple[str, ...] = ()  # sections whose clauses set nothing (history)

    @property
    def region_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.regions)

    def rule(self, rule_id: str) -> Rule:
        for s in self.rules:
            if s.item.id == rule_id:
                return s.item
        raise KeyError(rule_id)

    def where(self, rule_id: str) -> str:
        for s in self.rules:
            if s.item.id == rule_id:
                return s.where
        raise KeyError(rule_id)


# ---------------------------------------------------------------- YAML with line numbers


class _LineDict(dict):
    line: int = 0
    key_lines: dict[Any, int]  # set by the loader; absent on an empty file's stand-in


class _LineList(list):
    line: int = 0
    item_lines: tuple[int, ...] = ()


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping and sequence."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    keys = [loader.construct_object(k, deep=True) for k, _ in node.value]
    seen: set[Any] = set()
    for key, (key_node, _) in zip(keys, node.value, strict=True):
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain text or number", key_node.start_mark
            )
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {str(key)!r}", node.start_mark
            )
        seen.add(key)
    out = _LineDict(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    # errors about one key (an unknown key, a bad value) point at the key's own line
    lines = (k.start_mark.line + 1 for k, _ in node.value)
    out.key_lines = dict(zip(keys, lines, strict=True))
    return out


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> _LineList:
    out = _LineList(loader.construct_sequence(node, deep=True))
    out.line = node.start_mark.line + 1
    out.item_lines = tuple(item.start_mark.line + 1 for item in node.value)
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(data: Any, loc: Iterable[Any]) -> int:
    """Line of the deepest mapping or list on the path `loc` into the raw YAML data."""
    line = getattr(data, "line", 1)
    node = data
    for key in loc:
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, _LineDict):
            line = getattr(node, "key_lines", {}).get(key, line)
        elif isinstance(node, _LineList) and isinstance(key, int):
            line = node.item_lines[key] if key < len(node.item_lines) else line
        node = child
    return line


def _read_yaml(path: Path) -> tuple[_LineDict, str]:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise PackError(f"{path}: not a regular file; a rule pack file must be one")
        if info.st_size > MAX_PACK_FILE_BYTES:
            raise PackError(
                f"{path}: {info.st_size} bytes; a rule pack file is at most "
                f"{MAX_PACK_FILE_BYTES} bytes"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"{path}: cannot read rule pack file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise PackError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PackError(f"{path}:{line}: invalid YAML: {problem}") from exc
    if data is None:
        data = _LineDict()
    if not isinstance(data, dict):
        raise PackError(f"{path}:1: a rule pack file must be a mapping")
    return data, text


def _parse_file(path: Path) -> tuple[PackFile, _LineDict]:
    data, _ = _read_yaml(path)
    try:
        return PackFile.model_validate(data), data
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        line = _line_of(data, loc)
        field = ".".join(str(p) for p in loc)
        raise PackError(f"{path}:{line}: {field}: {err['msg']}") from exc


# ---------------------------------------------------------------- locating packs


def _packaged_rules() -> Path:
    return Path(str(resources.files("rules")))


def resolve_pack_path(ref: str | Path, relative_to: Path | None = None) -> Path:
    """A pack reference (shipped name, folder, or YAML file) → the path of its main YAML file."""
    ref_path = Path(ref)
    candidates = []
    if relative_to is not None and not ref_path.is_absolute():
        candidates.append(relative_to / ref_path)
    candidates.append(ref_path)
    root = _packaged_rules()
    candidates += [root / str(ref), root / "hospitals" / f"{ref}.yaml"]
    for cand in candidates:
        if cand.is_dir() and (cand / "pack.yaml").is_file():
            return cand / "pack.yaml"
        if cand.is_file():
            return cand
    shipped = ", ".join(sorted(["base", *(p.stem for p in (root / "hospitals").glob("*.yaml"))]))
    raise PackError(f"rule pack {str(ref)!r} not found (shipped packs: {shipped})")


# ---------------------------------------------------------------- merging


def _merge(items: dict[str, Sourced], new: Iterable[Any], path: Path, raw: list, what: str) -> None:
    """Add or override items by id; an id declared twice without `override` is an error."""
    for i, item in enumerate(new):
        where = f"{path}:{_line_of(raw, [i])}"
        if item.id in items and not item.override:
            raise PackError(
                f"{where}: duplicate {what} id {item.id!r} (first declared at "
                f"{items[item.id].where}); set `override: true` to replace it"
            )
        if item.override and item.id not in items:
            raise PackError(f"{where}: override of unknown {what} id {item.id!r}")
        items[item.id] = Sourced(item, where)


@dataclass
class _Acc:
    regions: list[RegionSpec]
    headings: dict[str, list[str]]
    silent_sections: list[str]
    dictionary: list[str]
    normalize: dict[str, Sourced]
    rules: dict[str, Sourced]
    examples: list[Sourced]
    chain: list[str]
    unlisted_predicate: UnlistedPredicate | None = None


def _apply_file(acc: _Acc, pf: PackFile, raw: _LineDict, path: Path) -> None:
    if pf.regions:
        if acc.regions and [r.id for r in pf.regions] != [r.id for r in acc.regions]:
            raise PackError(f"{path}:{_line_of(raw, ['regions'])}: regions differ from the base")
        acc.regions = list(pf.regions)
    acc.silent_sections += [s for s in pf.silent_sections if s not in acc.silent_sections]
    for section, words in pf.headings.items():
        known = acc.headings.setdefault(section, [])
        known += [w for w in words if w not in known]
    acc.dictionary += [w for w in pf.dictionary if w not in acc.dictionary]
    _merge(acc.normalize, pf.normalize, path, raw.get("normalize", []), "normalize")
    _merge(acc.rules, pf.rules, path, raw.get("rules", []), "rule")
    for i, rule_id in enumerate(pf.disable):
        where = f"{path}:{_line_of(raw, ['disable', i])}"
        if rule_id in acc.rules:
            del acc.rules[rule_id]
        elif rule_id in acc.normalize:
            del acc.normalize[rule_id]
        else:
            raise PackError(f"{where}: disable of unknown id {rule_id!r}")
    if pf.unlisted_predicate is not None:
        acc.unlisted_predicate = pf.unlisted_predicate  # an overlay replaces the policy whole
    examples = raw.get("examples", [])
    acc.examples += [
        Sourced(ex, f"{path}:{_line_of(examples, [i])}") for i, ex in enumerate(pf.examples)
    ]


def _load_into(acc: _Acc, path: Path, stack: tuple[Path, ...]) -> PackFile:
    path = path.resolve()
    pf, raw = _parse_file(path)
    for i, ref in enumerate(pf.extends):
        where = f"{path}:{_line_of(raw, ['extends', i])}"
        try:
            parent = resolve_pack_path(ref, relative_to=path.parent).resolve()
        except PackError as exc:
            raise PackError(f"{where}: {exc}") from exc
        if parent in (*stack, path):
            # named at the `extends` entry that closes the loop, where the fix goes
            cycle = " -> ".join(str(p) for p in (*stack, path, parent))
            raise PackError(f"{where}: extends cycle: {cycle}")
        if len(stack) + 1 >= MAX_EXTENDS_DEPTH:
            raise PackError(f"{where}: extends chain longer than {MAX_EXTENDS_DEPTH} packs")
        _load_into(acc, parent, (*stack, path))
    acc.chain.append(pf.name or path.stem)
    _apply_file(acc, pf, raw, path)
    for i, ref in enumerate(pf.include):
        inc = (path.parent / ref).resolve()
        if not inc.is_relative_to(path.parent):
            where = f"{path}:{_line_of(raw, ['include', i])}"
            raise PackError(f"{where}: include {ref!r} is outside the pack's folder {path.parent}")
        sub, sub_raw = _parse_file(inc)
        if sub.extends or sub.include or sub.regions:
            raise PackError(f"{inc}:1: an included file may not use extends, include or regions")
        _apply_file(acc, sub, sub_raw, inc)
    return pf


def _check_scope_fields(rule: Rule, where: str) -> None:
    """`outside` and `generic` describe anatomy, `outranks` an implied region."""
    if (rule.outside or rule.generic) and rule.kind is not CueKind.ANCHOR:
        raise PackError(f"{where}: rule {rule.id!r}: outside/generic are for anchors only")
    if rule.outside and rule.regions:
        raise PackError(f"{where}: rule {rule.id!r}: an outside anchor has no regions")
    if rule.outside and rule.generic:
        raise PackError(f"{where}: rule {rule.id!r}: an anchor is outside or generic, not both")
    if rule.outranks and not rule.implies:
        raise PackError(f"{where}: rule {rule.id!r}: outranks needs implies")


_REGEX_SYNTAX = frozenset("\\^$.|?*+()[]{}")
_PROBE_CHARS = "a0 肺,.，"


def _can_match_empty(pattern: str, compiled: regex.Pattern, samples: Iterable[str]) -> bool:
    """Whether the pattern can match zero characters anywhere (`a?`, `(?=肺)`, `\\b`): such a
    match replaces or splits text between characters and changes every other match."""
    try:
        return _sre_parser.parse(pattern).getwidth()[0] == 0
    except (re.error, ValueError, TypeError, OverflowError, RecursionError):
        pass  # syntax only the regex module knows (\\p{Han}, variable lookbehind): try texts
    try:
        return any(
            m.start() == m.end()
            for text in ("", *samples, *_probes(pattern))
            for m in compiled.finditer(text, timeout=PATTERN_PROBE_SECONDS)
        )
    except TimeoutError:
        return False  # reported as backtracking by the caller


def _probes(pattern: str) -> list[str]:
    """Texts that make an ambiguous repeat of the pattern's own characters backtrack: a run of
    one character then one nothing matches, so every way of splitting the run is tried."""
    chars = sorted({c for c in pattern if c not in _REGEX_SYNTAX and c.isprintable()})
    chars = sorted(set(chars) | set(_PROBE_CHARS))
    return [c * 48 + "\x00" for c in chars] + ["".join(chars) * 3 + "\x00"]


def _pattern_problem(
    compiled: regex.Pattern, pattern: str, samples: Iterable[str] = ()
) -> str | None:
    """Why a cue or normalisation pattern must not be used, or None."""
    if _can_match_empty(pattern, compiled, samples):
        return f"pattern {pattern!r} matches empty text"
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=PATTERN_PROBE_SECONDS)
        except TimeoutError:
            return (
                f"pattern {pattern!r} backtracks without end (over {PATTERN_PROBE_SECONDS} s "
                f"on {probe[:8]!r}…); make its repeats unambiguous"
            )
    return None


def _check_semantics(pack: Pack) -> None:
    known = set(pack.region_ids) | {ALL_REGIONS}
    seen_terms: dict[str, str] = {}
    for s in pack.rules:
        rule: Rule = s.item
        for field in ("regions", "implies", "fallback", "outranks"):
            bad = [r for r in getattr(rule, field) if r not in known]
            if bad:
                raise PackError(
                    f"{s.where}: rule {rule.id!r}: unknown region {bad[0]!r} in {field}"
                )
        _check_scope_fields(rule, s.where)
        if not rule.terms and not rule.patterns:
            raise PackError(f"{s.where}: rule {rule.id!r} has no terms or patterns")
        for pat in rule.patterns:
            try:
                compiled = regex.compile(pat)
            except regex.error as exc:
                raise PackError(f"{s.where}: rule {rule.id!r}: bad regex {pat!r}: {exc}") from exc
            if compiled.groupindex:
                raise PackError(f"{s.where}: rule {rule.id!r}: named groups are not allowed")
            problem = _pattern_problem(compiled, pat, [ex.text for ex in rule.examples])
            if problem:
                raise PackError(f"{s.where}: rule {rule.id!r}: {problem}")
        for term in rule.terms:
            if term in seen_terms and seen_terms[term] != rule.id:
                raise PackError(
                    f"{s.where}: rule {rule.id!r}: term {term!r} is already in rule "
                    f"{seen_terms[term]!r}"
                )
            seen_terms[term] = rule.id
        for ex in rule.examples:
            bad = [r for r in ex.expect if r not in pack.region_ids]
            if bad:
                raise PackError(
                    f"{s.where}: rule {rule.id!r}: example names unknown region {bad[0]!r}"
                )
    for s in pack.examples:
        bad = [r for r in s.item.expect if r not in pack.region_ids]
        if bad:
            raise PackError(f"{s.where}: pack example names unknown region {bad[0]!r}")
    for s in pack.normalize:
        entry: NormalizeEntry = s.item
        if (entry.term is None) == (entry.pattern is None):
            raise PackError(f"{s.where}: normalize {entry.id!r} needs exactly one of term, pattern")
        if entry.term == "":
            raise PackError(f"{s.where}: normalize {entry.id!r}: empty term")
        if entry.pattern is not None:
            try:
                compiled = regex.compile(entry.pattern)
            except regex.error as exc:
                raise PackError(f"{s.where}: normalize {entry.id!r}: bad regex: {exc}") from exc
            problem = _pattern_problem(compiled, entry.pattern)
            if problem:
                raise PackError(f"{s.where}: normalize {entry.id!r}: {problem}")


def load_pack(ref: str | Path = "base") -> Pack:
    """Load, merge and validate a pack by shipped name or path."""
    path = resolve_pack_path(ref)
    acc = _Acc([], {}, [], [], {}, {}, [], [])
    top = _load_into(acc, path, ())
    if not acc.regions:
        raise PackError(f"{path}:1: no regions declared (extend `base` or declare `regions`)")
    pack = Pack(
        name=top.name or path.stem,
        version=top.version or "0",
        description=top.description,
        chain=tuple(acc.chain),
        regions=tuple(acc.regions),
        headings={k: tuple(v) for k, v in acc.headings.items()},
        silent_sections=tuple(acc.silent_sections),
        dictionary=tuple(acc.dictionary),
        normalize=tuple(acc.normalize.values()),
        rules=tuple(acc.rules.values()),
        examples=tuple(acc.examples),
        unlisted_predicate=acc.unlisted_predicate,
    )
    _check_semantics(pack)
    return pack


@lru_cache(maxsize=1)
def region_ids() -> tuple[str, ...]:
    """Region ids of the base pack, in label-vector order (cheap: reads pack.yaml only)."""
    pf, _ = _parse_file(_packaged_rules() / "base" / "pack.yaml")
    return tuple(r.id for r in pf.regions)


def short_where(where: str) -> str:
    """A `file:line` for people: the file relative to the working directory when below it, else
    to the shipped rules' folder (rules/base/heart.yaml:3), else as it is."""
    path, sep, line = where.rpartition(":")
    if not sep or not line.isdigit():
        return where
    file = Path(path)
    for root, prefix in ((Path.cwd(), ""), (_packaged_rules(), "rules/")):
        try:
            return f"{prefix}{file.relative_to(root).as_posix()}:{line}"
        except ValueError:
            continue
    return where

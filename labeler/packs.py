"""Rule packs: strict YAML schema with file:line errors, `extends` overlays, merged packs.

A pack is a folder with pack.yaml (or a single YAML file). pack.yaml may `include` more files of
the same shape and `extends` other packs by name (rules/base, rules/hospitals/<name>.yaml) or path.
Overlays add rules and normalisation entries, replace them (`override: true`) and `disable` ids.
"""

from __future__ import annotations

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

ALL_REGIONS = "*"


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
    description: str = ""
    examples: list[Example] = Field(default_factory=list)

    @field_validator("terms")
    @classmethod
    def _no_empty_terms(cls, terms: list[str]) -> list[str]:
        if any(not t for t in terms):
            raise ValueError("empty term")
        return terms


class PackFile(_Strict):
    """The schema of pack.yaml and of every file it includes."""

    name: str | None = None
    version: str | None = None
    description: str = ""
    extends: list[str] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list)
    regions: list[RegionSpec] = Field(default_factory=list)
    headings: dict[str, list[str]] = Field(default_factory=dict)
    dictionary: list[str] = Field(default_factory=list)
    normalize: list[NormalizeEntry] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    disable: list[str] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)


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
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate key {sorted(map(str, dupes))[0]!r}", node.start_mark
        )
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
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PackError(f"{path}: cannot read rule pack file ({exc.strerror})") from exc
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
    dictionary: list[str]
    normalize: dict[str, Sourced]
    rules: dict[str, Sourced]
    examples: list[Sourced]
    chain: list[str]


def _apply_file(acc: _Acc, pf: PackFile, raw: _LineDict, path: Path) -> None:
    if pf.regions:
        if acc.regions and [r.id for r in pf.regions] != [r.id for r in acc.regions]:
            raise PackError(f"{path}:{_line_of(raw, ['regions'])}: regions differ from the base")
        acc.regions = list(pf.regions)
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
        _load_into(acc, parent, (*stack, path))
    acc.chain.append(pf.name or path.stem)
    _apply_file(acc, pf, raw, path)
    for ref in pf.include:
        inc = path.parent / ref
        sub, sub_raw = _parse_file(inc)
        if sub.extends or sub.include or sub.regions:
            raise PackError(f"{inc}:1: an included file may not use extends, include or regions")
        _apply_file(acc, sub, sub_raw, inc)
    return pf


def _check_semantics(pack: Pack) -> None:
    known = set(pack.region_ids) | {ALL_REGIONS}
    seen_terms: dict[str, str] = {}
    for s in pack.rules:
        rule: Rule = s.item
        for field in ("regions", "implies", "fallback"):
            bad = [r for r in getattr(rule, field) if r not in known]
            if bad:
                raise PackError(
                    f"{s.where}: rule {rule.id!r}: unknown region {bad[0]!r} in {field}"
                )
        if not rule.terms and not rule.patterns:
            raise PackError(f"{s.where}: rule {rule.id!r} has no terms or patterns")
        for pat in rule.patterns:
            try:
                compiled = regex.compile(pat)
            except regex.error as exc:
                raise PackError(f"{s.where}: rule {rule.id!r}: bad regex {pat!r}: {exc}") from exc
            if compiled.groupindex:
                raise PackError(f"{s.where}: rule {rule.id!r}: named groups are not allowed")
            if compiled.match(""):
                raise PackError(f"{s.where}: rule {rule.id!r}: pattern {pat!r} matches empty text")
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
        if entry.pattern is not None:
            try:
                regex.compile(entry.pattern)
            except regex.error as exc:
                raise PackError(f"{s.where}: normalize {entry.id!r}: bad regex: {exc}") from exc


def load_pack(ref: str | Path = "base") -> Pack:
    """Load, merge and validate a pack by shipped name or path."""
    path = resolve_pack_path(ref)
    acc = _Acc([], {}, [], {}, {}, [], [])
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
        dictionary=tuple(acc.dictionary),
        normalize=tuple(acc.normalize.values()),
        rules=tuple(acc.rules.values()),
        examples=tuple(acc.examples),
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

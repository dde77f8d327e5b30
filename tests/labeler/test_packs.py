"""Pack validation errors name file:line exactly; overlays add, override and disable by id."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from labeler.packs import PackError, load_pack


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path.resolve()


def _error(path: Path) -> str:
    with pytest.raises(PackError) as info:
        load_pack(path)
    return str(info.value)


def test_unknown_key_names_the_key_line(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.one
            kind: finding
            terms: [甲乙]
            regoins: lungs
        """,
    )
    assert _error(path) == f"{path}:6: rules.0.regoins: Extra inputs are not permitted"


def test_unknown_top_level_key(tmp_path):
    path = _write(tmp_path, "p.yaml", "extends: [base]\nrulez: []\n")
    assert _error(path) == f"{path}:2: rulez: Extra inputs are not permitted"


def test_bad_value_names_its_line(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.one
            kind: findng
            terms: [甲乙]
        """,
    )
    message = _error(path)
    assert message.startswith(f"{path}:4: rules.0.kind: Input should be 'anchor', 'finding'")


def test_duplicate_id_in_one_file(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.one
            kind: finding
            terms: [甲乙]
          - id: x.one
            kind: finding
            terms: [丙丁]
        """,
    )
    assert _error(path) == (
        f"{path}:6: duplicate rule id 'x.one' (first declared at {path}:3); "
        "set `override: true` to replace it"
    )


def test_duplicate_id_of_a_base_rule(tmp_path):
    first = load_pack("base").where("heart.anchor")
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: heart.anchor
            kind: anchor
            regions: [heart]
            terms: [心脏影子]
        """,
    )
    assert _error(path) == (
        f"{path}:3: duplicate rule id 'heart.anchor' (first declared at {first}); "
        "set `override: true` to replace it"
    )


def test_duplicate_yaml_key(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.one
            kind: finding
            kind: normal
            terms: [甲乙]
        """,
    )
    assert _error(path) == f"{path}:3: invalid YAML: duplicate key 'kind'"


def test_bad_regex(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.one
            kind: finding
            patterns: ['甲(乙']
        """,
    )
    assert _error(path) == f"{path}:3: rule 'x.one': bad regex '甲(乙': missing ) at position 3"


def test_override_of_a_missing_id(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        rules:
          - id: x.missing
            override: true
            kind: finding
            terms: [甲乙]
        """,
    )
    assert _error(path) == f"{path}:3: override of unknown rule id 'x.missing'"


def test_disable_of_a_missing_id(tmp_path):
    path = _write(
        tmp_path,
        "p.yaml",
        """
        extends: [base]
        disable:
          - heart.anchor
          - nope
        """,
    )
    assert _error(path) == f"{path}:4: disable of unknown id 'nope'"


def test_extends_cycle_names_the_entry_that_closes_it(tmp_path):
    a = _write(tmp_path, "a.yaml", "name: a\nextends: [b.yaml]\n")
    b = _write(tmp_path, "b.yaml", "name: b\nextends:\n  - base\n  - a.yaml\n")
    assert _error(a) == f"{b}:4: extends cycle: {a} -> {b} -> {a}"


def test_extends_itself(tmp_path):
    a = _write(tmp_path, "a.yaml", "extends: [a.yaml]\n")
    assert _error(a) == f"{a}:1: extends cycle: {a} -> {a}"


def test_extends_unknown_pack(tmp_path):
    path = _write(tmp_path, "p.yaml", "name: p\nextends:\n  - nope\n")
    assert _error(path).startswith(f"{path}:3: rule pack 'nope' not found (shipped packs: base")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            "rules:\n  - id: x.one\n    kind: finding\n    regions: [lung]\n    terms: [甲乙]\n",
            3,
            "rule 'x.one': unknown region 'lung' in regions",
        ),
        (
            "rules:\n  - id: x.one\n    kind: finding\n    implies: [hearts]\n    terms: [甲乙]\n",
            3,
            "rule 'x.one': unknown region 'hearts' in implies",
        ),
        (
            "rules:\n  - id: x.one\n    kind: finding\n    terms: [甲乙]\n    examples:\n"
            "      - {text: 甲乙, expect: {lung: positive}}\n",
            3,
            "rule 'x.one': example names unknown region 'lung'",
        ),
        (
            "examples:\n  - {text: 甲乙, expect: {lung: positive}}\n",
            3,
            "pack example names unknown region 'lung'",
        ),
    ],
    ids=["regions", "implies", "rule-example", "pack-example"],
)
def test_bad_region(tmp_path, body, line, message):
    path = _write(tmp_path, "p.yaml", "extends: [base]\n" + body)
    assert _error(path) == f"{path}:{line}: {message}"


def test_yaml_is_loaded_safely(tmp_path):
    path = _write(
        tmp_path, "p.yaml", "extends: [base]\nname: !!python/object/apply:os.system [id]\n"
    )
    message = _error(path)
    assert message.startswith(f"{path}:2: invalid YAML: could not determine a constructor")


# ---------------------------------------------------------------- overlay semantics

OVERLAY = """
name: overlay
version: "2"
extends: [base]
normalize:
  - {id: ov.abbrev, term: CPA, to: 肋膈角}
rules:
  - id: ov.new
    kind: finding
    regions: [heart]
    terms: [心尖圆隆]
  - id: heart.ctr_high
    override: true
    kind: finding
    regions: [heart]
    patterns: ['心胸比\\s*0?\\.(?:5[1-9]|[6-9])\\d*']
disable: [unc.question, norm.both_lungs]
"""


@pytest.fixture(scope="module")
def overlay(tmp_path_factory):
    path = tmp_path_factory.mktemp("overlay") / "overlay.yaml"
    path.write_text(OVERLAY.lstrip(), encoding="utf-8")
    return path.resolve(), load_pack(path)


def test_overlay_metadata_and_chain(overlay):
    _, pack = overlay
    assert (pack.name, pack.version, pack.chain) == ("overlay", "2", ("base", "overlay"))
    assert pack.region_ids == load_pack("base").region_ids


def test_overlay_adds_rules_and_normalize_entries_after_base(overlay):
    path, pack = overlay
    ids = [s.item.id for s in pack.rules]
    assert ids[-1] == "ov.new"
    assert pack.where("ov.new") == f"{path}:7"
    assert [s.item.id for s in pack.normalize][-1] == "ov.abbrev"


def test_merge_order_is_base_order_then_the_overlay(overlay):
    _, pack = overlay
    base_ids = [s.item.id for s in load_pack("base").rules]
    # an override keeps the base rule's place; disabled ids go; new ids come last
    expected = [i for i in base_ids if i != "unc.question"] + ["ov.new"]
    assert [s.item.id for s in pack.rules] == expected


def test_override_replaces_the_whole_rule(overlay):
    path, pack = overlay
    assert pack.where("heart.ctr_high") == f"{path}:11"
    assert pack.rule("heart.ctr_high").patterns == ["心胸比\\s*0?\\.(?:5[1-9]|[6-9])\\d*"]
    assert not pack.rule("heart.ctr_high").examples


def test_disable_removes_rules_and_normalize_entries(overlay):
    _, pack = overlay
    assert "unc.question" not in {s.item.id for s in pack.rules}
    assert "norm.both_lungs" not in {s.item.id for s in pack.normalize}
    assert "unc.question" in {s.item.id for s in load_pack("base").rules}


def test_overlay_changes_labels(overlay):
    from labeler.labeler import Labeler

    _, pack = overlay
    labeler = Labeler(pack)
    assert labeler.label("心尖圆隆。").states["heart"].value == "positive"
    assert labeler.label("右CPA变钝。").states["diaphragm"].value == "positive"
    # with unc.question disabled a question mark hedges nothing
    assert labeler.label("心影增大？").states["heart"].value == "positive"


# ---------------------------------------------------------------- issue 13: hostile packs


def test_include_outside_the_pack_folder_is_refused(tmp_path):
    (tmp_path / "secret.txt").write_text("password: hunter2\n", encoding="utf-8")
    pack = tmp_path / "pack"
    pack.mkdir()
    path = _write(pack, "pack.yaml", "extends: [base]\ninclude: [ok.yaml, ../secret.txt]\n")
    _write(pack, "ok.yaml", "dictionary: [甲乙]\n")
    assert _error(path) == (
        f"{path}:2: include '../secret.txt' is outside the pack's folder {pack.resolve()}"
    )


def test_include_through_a_link_to_dev_zero_is_refused(tmp_path):
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    path = _write(tmp_path, "p.yaml", "extends: [base]\ninclude: [zero.yaml]\n")
    assert _error(path) == f"{path}:2: include 'zero.yaml' is outside the pack's folder {tmp_path}"


def test_pack_file_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.yaml")
    path = _write(tmp_path, "p.yaml", "extends: [base]\ninclude: [fifo.yaml]\n")
    assert (
        _error(path)
        == f"{tmp_path / 'fifo.yaml'}: not a regular file; a rule pack file must be one"
    )


def test_dev_zero_as_a_pack_is_not_found():
    with pytest.raises(PackError, match=r"^rule pack '/dev/zero' not found \(shipped packs: "):
        load_pack("/dev/zero")


def test_long_extends_chain_is_one_error_not_a_recursion_error(tmp_path):
    for i in range(1500):
        _write(
            tmp_path,
            f"p{i}.yaml",
            f"extends: [p{i + 1}.yaml]\n" if i < 1499 else "extends: [base]\n",
        )
    assert _error(tmp_path / "p0.yaml") == (
        f"{tmp_path / 'p63.yaml'}:1: extends chain longer than 64 packs"
    )


def test_repeated_complex_yaml_key_is_one_error(tmp_path):
    path = _write(tmp_path, "p.yaml", "extends: [base]\n? [a, b]\n: 1\n? [a, b]\n: 2\n")
    assert _error(path) == f"{path}:2: invalid YAML: a key must be a plain text or number"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "rules: [{id: x.la, kind: finding, patterns: ['(?=肺)']}]",
            "rule 'x.la': pattern '(?=肺)' matches empty text",
        ),
        (
            "rules: [{id: x.b, kind: finding, patterns: ['\\b']}]",
            "rule 'x.b': pattern '\\\\b' matches empty text",
        ),
        (
            "rules: [{id: x.opt, kind: finding, patterns: ['肺?']}]",
            "rule 'x.opt': pattern '肺?' matches empty text",
        ),
        (
            "rules: [{id: x.han, kind: finding, patterns: ['(?<=\\p{Han}+)']}]",
            "rule 'x.han': pattern '(?<=\\\\p{Han}+)' matches empty text",
        ),
        (
            "normalize: [{id: n.lb, pattern: '(?<=心)', to: x}]",
            "normalize 'n.lb': pattern '(?<=心)' matches empty text",
        ),
        ("normalize: [{id: n.empty, term: '', to: x}]", "normalize 'n.empty': empty term"),
    ],
)
def test_zero_width_or_empty_matching_patterns_are_refused(tmp_path, entry, message):
    path = _write(tmp_path, "p.yaml", f"extends: [base]\n{entry}\n")
    assert _error(path) == f"{path}:2: {message}"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "rules: [{id: x.evil, kind: finding, patterns: ['(A|A)+$']}]",
            "rule 'x.evil': pattern '(A|A)+$' backtracks without end (over 0.2 s on 'AAAAAAAA'…); "
            "make its repeats unambiguous",
        ),
        (
            "normalize: [{id: n.evil, pattern: '(肺|肺肺)+$', to: x}]",
            "normalize 'n.evil': pattern '(肺|肺肺)+$' backtracks without end (over 0.2 s on "
            "'肺肺肺肺肺肺肺肺'…); make its repeats unambiguous",
        ),
    ],
)
def test_catastrophic_backtracking_pattern_is_refused(tmp_path, entry, message):
    path = _write(tmp_path, "p.yaml", f"extends: [base]\n{entry}\n")
    assert _error(path) == f"{path}:2: {message}"

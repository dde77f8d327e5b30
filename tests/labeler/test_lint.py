"""lint: each check on a pack built to trip it, and a clean shipped overlay."""

from __future__ import annotations

import textwrap

import pytest

from labeler.labeler import Labeler
from labeler.lint import CHECKS, lint

TRAPS = """
name: traps
extends: [base]
rules:
  - id: t.token_split
    kind: finding
    regions: [lungs]
    boundary: token
    terms: [甲乙丙丁戊]
    examples:
      - {text: 甲乙丙丁戊。, expect: {lungs: positive}}
  - id: t.pattern
    kind: finding
    regions: [heart]
    patterns: ['庚辛+']
    examples:
      - {text: 庚辛辛。, expect: {heart: positive}}
  - id: t.dead
    kind: finding
    regions: [heart]
    terms: [庚辛辛辛]
    examples:
      - {text: 庚辛辛辛。, expect: {heart: positive}}
  - id: t.normal
    kind: normal
    regions: [heart]
    terms: [庚辛]
    examples:
      - {text: 庚辛。, expect: {heart: positive}}
  - id: t.traditional
    kind: normal
    regions: [lungs]
    terms: [壬癸體]
    examples:
      - {text: 壬癸体。, expect: {lungs: negative}}
  - id: t.simplified
    kind: finding
    regions: [lungs]
    terms: [壬癸体]
  - id: t.short
    kind: normal
    regions: [thorax]
    terms: [子丑]
    examples:
      - {text: 子丑。, expect: {thorax: negative}}
  - id: t.long
    kind: finding
    regions: [thorax]
    terms: [子丑寅]
    examples:
      - {text: 子丑寅。, expect: {thorax: positive}}
"""


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    path = tmp_path_factory.mktemp("lint") / "traps.yaml"
    path.write_text(textwrap.dedent(TRAPS).lstrip(), encoding="utf-8")
    labeler = Labeler(path)
    own = str(path.resolve())
    return [f for f in lint(labeler) if f.where.startswith(own)]


def _of(findings, check, rule_id):
    return [f for f in findings if f.check == check and f.rule_id == rule_id]


def test_token_split_offers_the_dictionary_line(findings):
    (f,) = _of(findings, "token_split", "t.token_split")
    assert "jieba splits token-bounded term '甲乙丙丁戊' into" in f.message
    assert f.fix == "add to the pack's dictionary: - 甲乙丙丁戊"


def test_term_matched_whole_by_a_pattern_is_dead(findings):
    (f,) = _of(findings, "dead_term", "t.dead")
    assert "pattern '庚辛+' of t.pattern, tried first, matches it whole" in f.message


def test_normal_term_read_as_abnormal(findings):
    (f,) = _of(findings, "normal_abnormal", "t.normal")
    assert f.message.startswith("normal term '庚辛' is read as abnormal: pattern '庚辛+'")


def test_terms_equal_after_normalisation_collide(findings):
    (f,) = _of(findings, "normal_abnormal", "t.simplified")
    assert "it normalises to '壬癸体', already a term of t.traditional" in f.message


def test_rule_without_a_firing_example(findings):
    # t.dead and t.normal have examples, but their terms never fire (see above)
    unexercised = {f.rule_id for f in findings if f.check == "unexercised"}
    assert unexercised == {"t.simplified", "t.dead", "t.normal"}


def test_shadowed_term(findings):
    (f,) = _of(findings, "shadowed", "t.short")
    assert "'子丑' (normal) is hidden inside '子丑寅' of t.long (finding)" in f.message


def test_every_check_is_exercised_here(findings):
    assert {f.check for f in findings} == set(CHECKS)


def test_dictionary_entry_fixes_token_split(tmp_path):
    path = tmp_path / "fixed.yaml"
    path.write_text(
        textwrap.dedent(TRAPS)
        .lstrip()
        .replace("extends: [base]", "extends: [base]\ndictionary: [甲乙丙丁戊]"),
        encoding="utf-8",
    )
    found = lint(Labeler(path), ("token_split",))
    assert [f for f in found if f.rule_id == "t.token_split"] == []

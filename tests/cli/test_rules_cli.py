"""`cxrlabel rules validate | test | lint | show | schema`, with their exit codes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.label import main
from labeler.packs import PackFile, load_pack


def run(*args):
    return CliRunner().invoke(main, ["rules", *map(str, args)])


def _pack(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_validate_ok():
    result = run("validate", "example_hospital")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: pack example_hospital 1.0 (base -> example_hospital):")


def test_validate_reports_file_and_line(tmp_path):
    path = _pack(
        tmp_path, "extends: [base]\nrules:\n  - {id: x, kind: finding, terms: [甲], bad: 1}\n"
    )
    result = run("validate", path)
    assert result.exit_code == 1
    assert (
        result.stderr == f"error: {path.resolve()}:3: rules.0.bad: Extra inputs are not permitted\n"
    )


def test_unknown_pack_is_a_usage_error():
    result = run("validate", "no_such_hospital")
    assert result.exit_code == 2
    assert "rule pack 'no_such_hospital' not found" in result.output


def test_test_passes_on_the_shipped_overlay():
    result = run("test", "example_hospital", "-k", "hosp.")
    assert result.exit_code == 0, result.output
    assert "examples (base -> example_hospital)" in result.stdout
    assert result.stdout.splitlines()[1] == "..."  # one dot per example of the hosp.* rules
    assert " failed" not in result.stdout and "= 3 passed in " in result.stdout


def test_test_fails_with_the_evidence(tmp_path):
    path = _pack(
        tmp_path,
        """
        name: wrong
        extends: [base]
        rules:
          - id: x.apex
            kind: finding
            regions: [heart]
            terms: [心尖圆隆]
            examples:
              - {text: 心尖圆隆。, expect: {heart: negative}}
        """,
    )
    result = run("test", path, "-k", "x.apex")
    assert result.exit_code == 1
    out = result.stdout
    assert f"x.apex ({path.resolve()}:4)" in out
    assert "heart: expected negative, got positive" in out
    assert "evidence: positive x.apex '心尖圆隆' [0-4] via fixed" in out
    assert f'see: cxrlabel explain "心尖圆隆。" --rules {path}' in out
    assert "= 1 failed, 0 passed in " in out


TRAP = """
name: trap
extends: [base]
rules:
  - id: x.split
    kind: finding
    regions: [lungs]
    boundary: token
    terms: [甲乙丙丁戊]
    examples:
      - {text: 甲乙丙丁戊。, expect: {lungs: positive}}
"""


def test_lint_fails_on_the_packs_own_problem(tmp_path):
    path = _pack(tmp_path, TRAP)
    result = run("lint", path, "--check", "token_split")
    assert result.exit_code == 1
    assert "x.split: [token_split] jieba splits token-bounded term '甲乙丙丁戊'" in result.stdout
    assert "    fix: add to the pack's dictionary: - 甲乙丙丁戊" in result.stdout
    assert "general.yaml" not in result.stdout  # base's findings are not the overlay's


def test_lint_passes_on_the_shipped_overlay():
    result = run("lint", "example_hospital")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("no problems\n")


def test_lint_rejects_an_unknown_check():
    assert run("lint", "base", "--check", "nope").exit_code == 2


def test_show_prints_a_merged_pack_that_loads_on_its_own(tmp_path):
    result = run("show", "example_hospital")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# effective pack example_hospital 1.0, merged from base -> ")
    assert "# rules/hospitals/example_hospital.yaml:" in result.stdout
    merged = tmp_path / "merged.yaml"
    merged.write_text(result.stdout, encoding="utf-8")
    alone, original = load_pack(merged), load_pack("example_hospital")
    assert [s.item for s in alone.rules] == [
        s.item.model_copy(update={"override": False}) for s in original.rules
    ]
    assert [s.item for s in alone.normalize] == [
        s.item.model_copy(update={"override": False}) for s in original.normalize
    ]
    assert [s.item for s in alone.examples] == [s.item for s in original.examples]
    assert (alone.dictionary, alone.headings, alone.regions) == (
        original.dictionary,
        original.headings,
        original.regions,
    )


def test_show_json_names_where_each_item_came_from():
    result = run("show", "example_hospital", "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["chain"] == ["base", "example_hospital"]
    where = {r["id"]: r["where"] for r in doc["rules"]}
    assert where["hosp.heart_apex"].startswith("rules/hospitals/example_hospital.yaml:")
    assert where["heart.anchor"].startswith("rules/base/heart.yaml:")


def test_show_of_a_disabling_overlay_leaves_the_rule_out(tmp_path):
    path = _pack(tmp_path, "extends: [base]\ndisable: [unc.question]\n")
    shown = yaml.safe_load(run("show", path).stdout)
    assert "unc.question" not in {r["id"] for r in shown["rules"]}


@pytest.mark.parametrize("to_file", [False, True])
def test_schema_matches_the_documented_one(tmp_path, to_file):
    documented = json.loads(Path("docs/rules.schema.json").read_text(encoding="utf-8"))
    fix = "the pack models changed: run `cxrlabel rules schema -o docs/rules.schema.json`"
    assert documented == PackFile.model_json_schema(), fix
    if to_file:
        assert run("schema", "-o", tmp_path / "s.json").exit_code == 0
        assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == documented
    else:
        assert json.loads(run("schema").stdout) == documented


def test_every_schema_field_is_documented():
    from labeler.packs import Example, NormalizeEntry, RegionSpec, Rule

    doc = Path("docs/rules.md").read_text(encoding="utf-8")
    for model in (PackFile, RegionSpec, NormalizeEntry, Rule, Example):
        for field in model.model_fields:
            assert f"| `{field}` |" in doc, f"{model.__name__}.{field} is not in docs/rules.md"


def test_validate_refuses_a_catastrophic_backtracking_pattern(tmp_path):
    """(A|A)+$ passed validation and then hung labelling (issue 13)."""
    path = _pack(
        tmp_path,
        "extends: [base]\nrules:\n  - {id: x.evil, kind: finding, patterns: ['(A|A)+$']}\n",
    )
    result = run("validate", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {path.resolve()}:3: rule 'x.evil': pattern '(A|A)+$' backtracks without end "
        "(over 0.2 s on 'AAAAAAAA'…); make its repeats unambiguous\n"
    )

"""`cxrlabel audit` and `cxrlabel diff` end to end on the bundled example corpora."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from cli.label import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _rows(path):
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_audit_writes_the_four_files(tmp_path):
    out = tmp_path / "audit"
    result = run("audit", "examples/example_hospital_reports.csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("23 reports audited in ")
    assert sorted(p.name for p in out.iterdir()) == [
        "conflicts.csv",
        "index.html",
        "rule_hits.csv",
        "unmatched.csv",
    ]
    hits = _rows(out / "rule_hits.csv")
    assert list(hits[0]) == [
        "rule_id", "kind", "where", "hits", "reports", "example_1", "example_2", "example_3"
    ]  # fmt: skip
    unmatched = {r["clause"]: r for r in _rows(out / "unmatched.csv")}
    # base does not know the hospital's words: they top its to-do list
    assert (unmatched["心尖圆隆"]["reason"], unmatched["心尖圆隆"]["report_ids"]) == (
        "unlisted_predicate",
        "EH011",
    )
    assert unmatched["1.2CM"]["reason"] == "no_cue"  # what the lossy export left of 1.0×1.2cm
    assert [r["rank"] for r in _rows(out / "unmatched.csv")][:3] == ["1", "2", "3"]
    conflicts = _rows(out / "conflicts.csv")
    assert list(conflicts[0])[:4] == ["report_id", "row", "region", "state"]


def test_audit_with_the_overlay_understands_those_words(tmp_path):
    out = tmp_path / "audit"
    result = run(
        "audit", "examples/example_hospital_reports.csv", "--rules", "example_hospital", "-o", out
    )
    assert result.exit_code == 0, result.output
    assert "心尖圆隆" not in {r["clause"] for r in _rows(out / "unmatched.csv")}
    hits = {r["rule_id"]: r for r in _rows(out / "rule_hits.csv")}
    assert hits["hosp.heart_apex"]["hits"] == "1"
    assert hits["hosp.heart_apex"]["example_1"] == "心尖圆隆，两肺纹理清晰。"


def test_audit_sample(tmp_path):
    result = run("audit", "examples/reports.csv", "--sample", "25", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("25 reports audited")


def test_audit_usage_errors(tmp_path):
    assert run("audit", tmp_path / "missing.csv", "-o", tmp_path).exit_code == 2
    assert run("audit", "examples/reports.csv").exit_code == 2  # no -o
    assert run("audit", "examples/reports.csv", "-o", tmp_path, "--rules", "nope").exit_code == 2


def test_diff_shows_exactly_the_reports_the_overlay_was_written_for(tmp_path):
    out = tmp_path / "diff.csv"
    result = run(
        "diff",
        "examples/example_hospital_reports.csv",
        "--rules",
        "base",
        "--rules",
        "example_hospital",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("7 of 23 reports change from base to example_hospital\n")
    assert "EH011 (row 11): 心尖圆隆，两肺纹理清晰。\n  heart: not_mentioned -> positive\n" in (
        result.stdout
    )
    assert "    after (example_hospital): positive hosp.heart_apex '心尖圆隆'" in result.stdout
    changed = [(r["report_id"], r["region"], r["before"], r["after"]) for r in _rows(out)]
    assert changed == [
        ("EH003", "lungs", "not_mentioned", "positive"),
        ("EH005", "diaphragm", "not_mentioned", "positive"),
        ("EH008", "lungs", "uncertain", "positive"),
        ("EH011", "heart", "not_mentioned", "positive"),
        ("EH014", "lungs", "not_mentioned", "positive"),
        ("EH017", "diaphragm", "not_mentioned", "negative"),
        ("EH021", "lungs", "not_mentioned", "positive"),
    ]


def test_diff_needs_two_packs():
    result = run("diff", "examples/example_hospital_reports.csv", "--rules", "base")
    assert result.exit_code == 2
    assert "give --rules exactly twice" in result.output


def test_audit_strict_exits_1_when_a_report_could_not_be_audited(tmp_path):
    src = tmp_path / "r.jsonl"
    src.write_text('{"id": "A", "text": "心影增大"}\n{not json\n', encoding="utf-8")
    assert run("audit", src, "-o", tmp_path / "a").exit_code == 0
    result = run("audit", src, "-o", tmp_path / "b", "--strict")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "1 reports could not be audited: see index.html",
        "--strict: failing because some reports could not be audited",
    ]


def test_audit_output_under_a_file_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x", encoding="utf-8")
    result = run("audit", "examples/reports.csv", "-o", tmp_path / "f" / "audit", "--sample", "3")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: cannot write {tmp_path}/f/audit/rule_hits.csv: a parent is a file, not a folder"
    )


def test_audit_of_a_multi_exam_export_groups_the_clauses_outside_the_chest(tmp_path):
    reports = tmp_path / "dr_export.csv"
    reports.write_text(
        "report_id,text\n"
        "D1,1.心肺膈未见明显异常。2.腰椎骨质增生，L4/5椎间隙变窄。\n"
        "D2,1.两肺纹理增多。2.右膝关节退行性变。3.心尖翘起。\n",
        encoding="utf-8",
    )
    out = tmp_path / "audit"
    result = run("audit", reports, "-o", out)
    assert result.exit_code == 0, result.output
    assert "1 distinct unmatched clauses, 3 outside the chest;" in result.stdout
    rows = [(r["reason"], r["clause"]) for r in _rows(out / "unmatched.csv")]
    assert rows == [
        ("unlisted_predicate", "3.心尖翘起"),
        ("outside_chest", "2.右膝关节退行性变"),
        ("outside_chest", "2.腰椎骨质增生"),
        ("outside_chest", "L4/5椎间隙变窄"),
    ]
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<h2>Clauses outside the chest (top 3 of 3)</h2>" in page

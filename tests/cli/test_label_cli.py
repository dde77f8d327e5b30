import json

import pandas as pd
from click.testing import CliRunner

from cli.label import main

REPORTS = pd.read_csv("examples/reports.csv", dtype=str, keep_default_na=False).head(60)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_extract_writes_labels_and_evidence(tmp_path):
    src, out, ev = tmp_path / "r.csv", tmp_path / "labels.csv", tmp_path / "ev.jsonl"
    pd.DataFrame(
        [("a", "心影增大。两肺纹理清晰。"), ("b", ""), ("c", "右下肺可疑结节影")],
        columns=["report_id", "text"],
    ).to_csv(src, index=False)
    result = run("extract", src, "-o", out, "--evidence", ev)
    assert result.exit_code == 0, result.output
    labels = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(labels.columns) == [
        "report_id",
        "thorax",
        "lungs",
        "aorta",
        "heart",
        "diaphragm",
        "thorax_state",
        "lungs_state",
        "aorta_state",
        "heart_state",
        "diaphragm_state",
        "no_region_mentioned",
        "error",
    ]
    assert labels.values[:, :6].tolist() == [
        ["a", "0", "0", "0", "1", "0"],
        ["b", "0", "0", "0", "0", "0"],
        ["c", "0", "1", "0", "0", "0"],
    ]
    assert labels["lungs_state"].tolist() == ["negative", "not_mentioned", "uncertain"]
    assert labels["no_region_mentioned"].tolist() == ["0", "1", "0"]
    records = [json.loads(line) for line in ev.read_text(encoding="utf-8").splitlines()]
    assert [r["report_id"] for r in records] == ["a", "b", "c"]
    (heart,) = records[0]["decisions"]["heart"]["evidence"]
    assert (heart["text"], heart["start"], heart["end"]) == ("增大", 2, 4)


def test_uncertain_keep_and_not_mentioned_keep(tmp_path):
    src, out = tmp_path / "r.csv", tmp_path / "labels.csv"
    pd.DataFrame([("c", "右下肺可疑结节影")], columns=["id", "text"]).to_csv(src, index=False)
    result = run("extract", src, "-o", out, "--uncertain", "keep", "--not-mentioned", "keep")
    assert result.exit_code == 0, result.output
    row = pd.read_csv(out, dtype=str, keep_default_na=False).iloc[0]
    assert [row[r] for r in ("thorax", "lungs", "heart")] == ["", "-1", ""]


def test_gbk_csv_and_xlsx_label_like_utf8(tmp_path):
    outputs = []
    for name, write in [
        ("u.csv", lambda p: REPORTS.to_csv(p, index=False, encoding="utf-8")),
        ("g.csv", lambda p: REPORTS.to_csv(p, index=False, encoding="gb18030")),
        ("x.xlsx", lambda p: REPORTS.to_excel(p, index=False)),
    ]:
        src, out = tmp_path / name, tmp_path / f"{name}.labels.csv"
        write(src)
        result = run("extract", src, "-o", out, "--workers", "2" if name == "g.csv" else "1")
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0].count(b"\n") == len(REPORTS) + 1


def test_extract_missing_column_is_a_usage_error(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("id,comment\n1,x\n", encoding="utf-8")
    result = run("extract", src, "-o", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert "no report text column; columns found: id, comment" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_extract_unknown_pack_is_a_usage_error(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("id,text\n1,x\n", encoding="utf-8")
    result = run("extract", src, "-o", tmp_path / "o.csv", "--rules", "nowhere")
    assert result.exit_code == 2 and "rule pack 'nowhere' not found" in result.output


def test_explain_shows_clauses_hits_and_vector():
    result = run("explain", "两肺纹理增多，心影不大。")
    assert result.exit_code == 0, result.output
    assert "lungs.anchor" in result.output and "find.generic" in result.output
    assert "tokens: 心影 / 不大 / 。" in result.output
    assert result.output.rstrip().endswith(
        "vector [thorax, lungs, aorta, heart, diaphragm] = [0, 1, 0, 0, 0]"
    )


def test_evaluate_reports_scores_and_disagreements(tmp_path):
    labels, gold = tmp_path / "labels.csv", tmp_path / "gold.csv"
    cols = ["report_id", "thorax", "lungs", "aorta", "heart", "diaphragm"]
    pd.DataFrame([("a", 0, 1, 0, 0, 0), ("b", 0, 0, 0, 1, 0)], columns=cols).to_csv(
        labels, index=False
    )
    pd.DataFrame([("a", 0, 1, 0, 0, 0), ("b", 0, 0, 0, 0, 0)], columns=cols).to_csv(
        gold, index=False
    )
    result = run("evaluate", labels, gold, "--json", tmp_path / "m.json")
    assert result.exit_code == 0, result.output
    assert "2 reports compared" in result.output
    assert "b heart: gold 0 () labeler 1 ()" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert metrics["scores"][3]["precision"] == 0.0

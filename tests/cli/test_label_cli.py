import json

import pandas as pd
import pytest
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
    assert result.output == (
        f"Error: {src}: no report text column (read as utf-8); columns found: id, comment; "
        "choose one with --text-col\n"
    )
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


# ---------------------------------------------------------------- issue 13: hostile input


def test_extract_dash_reads_stdin_and_writes_stdout():
    result = CliRunner().invoke(
        main, ["extract", "-", "-o", "-"], input="id,text\nA,心影增大\nB,\n".encode()
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "report_id,thorax,lungs,aorta,heart,diaphragm,thorax_state,lungs_state,aorta_state,"
        "heart_state,diaphragm_state,no_region_mentioned,error",
        "A,0,0,0,1,0,not_mentioned,not_mentioned,not_mentioned,positive,not_mentioned,0,",
        "B,0,0,0,0,0,not_mentioned,not_mentioned,not_mentioned,not_mentioned,not_mentioned,1,",
    ]
    assert result.stderr.startswith("read 2 reports from <stdin> as utf-8\n")


def test_extract_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(tmp_path):
    import os
    import stat
    import threading

    src, fifo = tmp_path / "r.csv", tmp_path / "out"
    src.write_text("id,text\nA,心影增大\n", encoding="utf-8")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    result = run("extract", src, "-o", fifo)
    reader.join(10)
    assert result.exit_code == 0, result.output
    assert got[0].splitlines()[1].startswith("A,0,0,0,1,0,")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.parametrize(
    ("output", "evidence", "message"),
    [
        (
            "{d}/same.csv",
            "{d}/./same.csv",
            "-o and --evidence name the same file ({d}/same.csv); give two files",
        ),
        ("-", "/dev/stdout", "-o and --evidence name the same file (-); give two files"),
        (
            "{d}/r.csv/labels.csv",
            None,
            "cannot write {d}/r.csv/labels.csv: a parent is a file, not a folder",
        ),
        (
            "/proc/labels.csv",
            None,
            "cannot write /proc/labels.csv: No such file or directory "
            "(is a parent a file, or a folder that cannot hold files?)",
        ),
        ("/sys/labels.csv", None, "cannot write /sys/labels.csv: Permission denied"),
        ("{d}", None, "Invalid value for '-o' / '--output': File '{d}' is a directory."),
    ],
)
def test_extract_unwritable_output_is_one_line_exit_2(tmp_path, output, evidence, message):
    src = tmp_path / "r.csv"
    src.write_text("id,text\nA,心影增大\n", encoding="utf-8")
    args = ["extract", src, "-o", output.format(d=tmp_path)]
    if evidence:
        args += ["--evidence", evidence.format(d=tmp_path)]
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "Error: " + message.format(d=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_extract_strict_exits_1_when_a_row_failed(tmp_path):
    src, out = tmp_path / "r.jsonl", tmp_path / "labels.csv"
    src.write_text('{"id": "A", "text": "心影增大"}\n{not json\n', encoding="utf-8")
    assert run("extract", src, "-o", out).exit_code == 0
    result = run("extract", src, "-o", out, "--strict")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == [
        "1 rows could not be labelled: see the error column",
        "--strict: failing because of the rows above",
    ]
    assert out.read_text(encoding="utf-8").count("\n") == 3  # the labels are still written


def test_extract_reports_blank_and_duplicate_ids(tmp_path):
    src, out = tmp_path / "r.csv", tmp_path / "labels.csv"
    src.write_text("id,text\nA,心影增大\n,两肺\nA,x\n", encoding="utf-8")
    result = run("extract", src, "-o", out)
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if line.startswith("warning")] == [
        "warning: 1 reports have a blank id, given row numbers: rows 2",
        "warning: 1 report ids are not unique: 'A' at rows 1, 3",
    ]
    assert run("extract", src, "-o", out, "--strict").exit_code == 1


def test_extract_names_the_detected_encoding_of_a_big5_file(tmp_path):
    src, out = tmp_path / "r.csv", tmp_path / "labels.csv"
    src.write_bytes(
        "檢查號,報告內容\nT1,心影擴大。\nT2,兩肺紋理增多，右側肋膜積液\n".encode("big5")
    )
    result = run("extract", src, "-o", out)
    assert result.exit_code == 0, result.output
    assert f"read 2 reports from {src} as big5 (detected)" in result.stdout
    labels = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert labels[["report_id", "lungs", "heart"]].values.tolist() == [
        ["T1", "0", "1"],
        ["T2", "1", "0"],
    ]


def test_extract_xlsx_with_two_sheets_needs_sheet(tmp_path):
    src, out = tmp_path / "r.xlsx", tmp_path / "labels.csv"
    with pd.ExcelWriter(src) as writer:
        pd.DataFrame([("A", "心影增大")], columns=["id", "text"]).to_excel(
            writer, sheet_name="一", index=False
        )
        pd.DataFrame([("B", "两肺纹理增多")], columns=["id", "text"]).to_excel(
            writer, sheet_name="二", index=False
        )
    result = run("extract", src, "-o", out)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {src}: 2 sheets hold data (一, 二); choose one with --sheet\n"
    result = run("extract", src, "-o", out, "--sheet", "二")
    assert result.exit_code == 0
    assert "read 1 reports from" in result.stdout and "as XLSX, sheet '二'" in result.stdout
    assert pd.read_csv(out, dtype=str)["report_id"].tolist() == ["B"]


def test_extract_excel_switch_writes_a_bom_and_pandas_reads_it_back_identically(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('id,text\n=1+2,心影增大\n"A,1",两肺纹理增多\n', encoding="utf-8")
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    assert run("extract", src, "-o", plain).exit_code == 0
    assert run("extract", src, "-o", excel, "--excel").exit_code == 0
    assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in (plain, excel)]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    assert frames[1]["report_id"].tolist() == ["=1+2", "A,1"]  # machine output: ids byte-exact


def test_extract_parquet_in_and_out_round_trips_the_csv_run(tmp_path):
    src = tmp_path / "reports.parquet"
    REPORTS.to_parquet(src, index=False)
    assert run("extract", "examples/reports.csv", "-o", tmp_path / "all.csv").exit_code == 0
    want = pd.read_csv(tmp_path / "all.csv", dtype=str, keep_default_na=False).head(60)
    result = run("extract", src, "-o", tmp_path / "labels.parquet")
    assert result.exit_code == 0, result.output
    assert f"read 60 reports from {src} as Parquet" in result.output
    got = pd.read_parquet(tmp_path / "labels.parquet")
    assert list(got.columns) == list(want.columns)
    assert str(got["lungs"].dtype) == "Int64" and str(got["no_region_mentioned"].dtype) == "int64"
    pd.testing.assert_frame_equal(got.astype(str), want)
    # the labels Parquet read back as a report file: its ids and no text column
    assert run("extract", tmp_path / "labels.parquet", "-o", tmp_path / "x.csv").exit_code == 2


def test_extract_part_rows_writes_a_folder_of_parts_and_reads_one(tmp_path):
    lake = tmp_path / "lake"
    lake.mkdir()
    for i in range(3):  # part.2 comes before part.10 when read back
        REPORTS.iloc[i * 20 : (i + 1) * 20].to_parquet(lake / f"part.{(0, 2, 10)[i]}.parquet")
    (lake / "_SUCCESS").write_text("")
    out = tmp_path / "labels.parquet"
    for _ in range(2):  # a rerun replaces the folder of parts
        result = run("extract", lake, "-o", out, "--part-rows", "25")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert list(pd.read_parquet(out)["report_id"]) == list(REPORTS["report_id"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.parquet", "lake"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "{d}/labels.csv", "--part-rows", "5"], "--part-rows needs a Parquet output"),
        (["-o", "{d}/r.csv", "--part-rows", "5"], "--part-rows needs a Parquet output"),
        (["-o", "{d}/lake.parquet", "--part-rows", "5"], "a folder holding more than"),
    ],
)
def test_extract_part_rows_refusals(tmp_path, args, message):
    src = tmp_path / "r.csv"
    src.write_text("id,text\nA,心影增大\n", encoding="utf-8")
    (tmp_path / "lake.parquet").mkdir()
    (tmp_path / "lake.parquet" / "keep.txt").write_text("mine")
    result = run("extract", src, *[a.format(d=tmp_path) for a in args])
    assert result.exit_code == 2
    assert message in result.stderr.splitlines()[-1]
    assert (tmp_path / "lake.parquet" / "keep.txt").read_text() == "mine"


def test_extract_a_folder_without_parquet_parts_is_one_line_exit_2(tmp_path):
    result = run("extract", tmp_path, "-o", tmp_path / "labels.csv")
    assert result.exit_code == 2
    assert (
        result.stderr.splitlines()[-1] == f"Error: {tmp_path}: a folder without Parquet part files"
    )

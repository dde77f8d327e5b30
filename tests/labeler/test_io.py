import json
import os

import pandas as pd
import pytest

from labeler.io import ReportFileError, atomic_write, read_reports

ROWS = [("A1", "两肺纹理增多，心影增大。"), ("A2", ""), ("A3", "兩側肋膜積液，纵膈居中")]


def write_csv(path, encoding, sep=","):
    pd.DataFrame(ROWS, columns=["检查号", "报告内容"]).to_csv(
        path, index=False, encoding=encoding, sep=sep
    )


@pytest.mark.parametrize(
    ("name", "encoding", "sep"),
    [
        ("r.csv", "utf-8", ","),
        ("r.csv", "utf-8-sig", ","),
        ("r.csv", "gbk", ","),
        ("r.csv", "gb18030", ","),
        ("r.tsv", "utf-8", "\t"),
    ],
)
def test_delimited_files_in_every_encoding(tmp_path, name, encoding, sep):
    path = tmp_path / name
    write_csv(path, encoding, sep)
    reports = read_reports(path)
    assert [(r.report_id, r.text, r.row) for r in reports] == [
        (rid, text, i) for i, (rid, text) in enumerate(ROWS)
    ]


def test_xlsx(tmp_path):
    path = tmp_path / "r.xlsx"
    pd.DataFrame(ROWS, columns=["report_id", "text"]).to_excel(path, index=False)
    assert [(r.report_id, r.text) for r in read_reports(path)] == ROWS


def test_jsonl_with_a_bad_line_keeps_the_row(tmp_path):
    path = tmp_path / "r.jsonl"
    lines = [json.dumps({"id": rid, "text": t}, ensure_ascii=False) for rid, t in ROWS]
    lines.insert(1, "{not json")
    path.write_text("\n".join(lines), encoding="utf-8")
    reports = read_reports(path)
    assert [r.report_id for r in reports] == ["A1", "row2", "A2", "A3"]
    assert reports[1].error.startswith(f"{path}:2: invalid JSON line")


def test_findings_and_impression_columns_are_joined_under_headings(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(
        [("1", "两肺纹理增多。", "支气管炎")], columns=["id", "检查所见", "诊断意见"]
    ).to_csv(path, index=False)
    (report,) = read_reports(path)
    assert report.text == "检查所见：两肺纹理增多。\n诊断意见：支气管炎"


def test_missing_text_column_lists_the_columns(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,comment\n1,x\n", encoding="utf-8")
    with pytest.raises(ReportFileError) as err:
        read_reports(path)
    assert str(err.value) == (
        f"{path}: no report text column; columns found: id, comment; choose one with --text-col"
    )


def test_named_column_that_does_not_exist(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\n1,x\n", encoding="utf-8")
    with pytest.raises(ReportFileError, match=r"no column 'body'; columns found: id, text"):
        read_reports(path, text_cols=["body"])


def test_undecodable_file(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"id,text\n1,\x81\x20\xff\n")
    with pytest.raises(ReportFileError, match="cannot decode"):
        read_reports(path)


def test_missing_ids_get_row_numbers(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("id,text\n,心影增大\nB,两肺纹理增多\n", encoding="utf-8")
    assert [r.report_id for r in read_reports(path)] == ["row1", "B"]


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("partial")
        raise RuntimeError("stop")
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    target = tmp_path / "out.csv"
    with atomic_write(target) as handle:
        handle.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_description_and_conclusion_columns_are_found(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame(
        [("9", "心影增大。", "心脏增大")], columns=["序号", "影像描述", "诊断结论"]
    ).to_csv(path, index=False)
    (report,) = read_reports(path)
    assert (report.report_id, report.text) == ("9", "影像描述：心影增大。\n诊断结论：心脏增大")

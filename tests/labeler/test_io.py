import json
import os

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        f"{path}: no report text column (read as utf-8); columns found: id, comment; "
        "choose one with --text-col"
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


# ---------------------------------------------------------------- issue 13: hostile input


def test_jsonl_u2028_and_u0085_inside_text_keep_one_record(tmp_path):
    path = tmp_path / "r.jsonl"
    records = [
        ("A1", "两肺纹理增多\u2028心影增大"),
        ("A2", "心影\u0085增大\u2029。"),
        ("A3", "x\ry"),
    ]
    path.write_text(
        "\n".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in records),
        encoding="utf-8",
    )
    reports = read_reports(path)
    assert [(r.report_id, r.text, r.error) for r in reports] == [(i, t, None) for i, t in records]


def test_jsonl_lone_surrogate_is_that_rows_error(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"id": "A1", "text": "心影增大"}\n'
        '{"id": "A2", "text": "bad \\ud800 text"}\n'
        '{"id": "A\\udc80", "text": "ok"}\n'
        '{"id": "A4", "text": "两肺纹理增多"}\n',
        encoding="utf-8",
    )
    reports = read_reports(path)
    assert [(r.report_id, r.text, r.error) for r in reports] == [
        ("A1", "心影增大", None),
        (
            "A2",
            "",
            f"{path}:2: field 'text' is not text: lone surrogate '\\ud800' at character 4",
        ),
        (
            "A\\udc80",
            "",
            f"{path}:3: field 'id' is not text: lone surrogate '\\udc80' at character 1",
        ),
        ("A4", "两肺纹理增多", None),
    ]


GBK_ROWS = "检查号,报告内容\nA1,两肺纹理增多，心影增大。\nA2,右侧肋膈角变钝\n"
BIG5_ROWS = (
    "檢查號,報告內容\nT1,兩肺紋理增多，心影擴大。\nT2,右側肋膜積液，縱膈居中\nT3,心肺未見異常。\n"
)


@pytest.mark.parametrize(
    ("raw", "named", "first"),
    [
        (b"\xef\xbb\xbf" + GBK_ROWS.encode("gbk"), "gb18030 (detected, after a UTF-8 BOM)", "A1"),
        (BIG5_ROWS.encode("big5"), "big5 (detected)", "T1"),
        (GBK_ROWS.encode("gbk"), "gb18030 (detected)", "A1"),
        ("id,text\n1,心影增大\n".encode("gbk"), "gb18030 (detected)", "1"),
        (GBK_ROWS.encode("utf-16"), "utf-16 (detected)", "A1"),
    ],
)
def test_encoding_is_detected_and_named(tmp_path, raw, named, first):
    from labeler.io import read_report_file

    path = tmp_path / "r.csv"
    path.write_bytes(raw)
    source = read_report_file(path)
    assert source.encoding == named
    assert source.reports[0].report_id == first
    text = raw.lstrip(b"\xef\xbb\xbf").decode(named.split()[0]).lstrip("\ufeff")
    assert [r.text for r in source.reports] == [line.split(",", 1)[1] for line in text.split()[1:]]


def test_file_whose_header_has_no_id_column_is_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("编号X,text\n1,心影增大\n", encoding="utf-8")
    with pytest.raises(ReportFileError) as err:
        read_reports(path)
    assert str(err.value) == (
        f"{path}: no report id column (read as utf-8); columns found: 编号X, text; "
        "choose one with --id-col"
    )


def test_csv_row_with_more_fields_than_the_header_is_an_error_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('id,text\nA1,心影增大\nA2,"a\nb",extra\nA3,两肺\n', encoding="utf-8")
    assert [(r.report_id, r.text, r.error) for r in read_reports(path)] == [
        ("A1", "心影增大", None),
        ("A2", "", f"{path}:4: 3 fields, the header has 2"),
        ("A3", "两肺", None),
    ]


def test_blank_and_duplicate_report_ids_are_reported(tmp_path):
    from labeler.io import read_report_file

    path = tmp_path / "r.csv"
    path.write_text("id,text\nA1,x\n ,y\nA1,z\nB,w\n,v\nB,u\n", encoding="utf-8")
    source = read_report_file(path)
    assert [r.report_id for r in source.reports] == ["A1", "row2", "A1", "B", "row5", "B"]
    assert source.warnings == (
        "2 reports have a blank id, given row numbers: rows 2, 5",
        "2 report ids are not unique: 'A1' at rows 1, 3; 'B' at rows 4, 6",
    )


def test_stdin_is_read_for_dash(monkeypatch):
    import io as _io
    import sys

    monkeypatch.setattr(
        sys, "stdin", _io.TextIOWrapper(_io.BytesIO("id,text\nA,心影增大\n".encode()))
    )
    assert [(r.report_id, r.text) for r in read_reports("-")] == [("A", "心影增大")]
    jsonl = '{"id": "J", "text": "两肺"}\n'.encode()
    monkeypatch.setattr(sys, "stdin", _io.TextIOWrapper(_io.BytesIO(jsonl)))
    assert [(r.report_id, r.text) for r in read_reports("-")] == [("J", "两肺")]


def _workbook(path, sheets):
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def test_xlsx_with_several_sheets_needs_sheet(tmp_path):
    path = _workbook(
        tmp_path / "r.xlsx",
        {
            "门诊": [("id", "text"), ("A", "心影增大")],
            "住院": [("id", "text"), ("B", "两肺")],
            "空": [],
        },
    )
    with pytest.raises(ReportFileError) as err:
        read_reports(path)
    assert str(err.value) == f"{path}: 2 sheets hold data (门诊, 住院); choose one with --sheet"
    assert [r.report_id for r in read_reports(path, sheet="住院")] == ["B"]
    with pytest.raises(ReportFileError) as err:
        read_reports(path, sheet="急诊")
    assert str(err.value) == f"{path}: no sheet '急诊'; sheets: 门诊, 住院, 空"


def test_xlsx_formula_without_cached_value_and_merged_cells_are_error_rows(tmp_path):
    import openpyxl

    path = tmp_path / "r.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "报告"
    for row in [
        ("id", "text"),
        ("A1", "心影增大"),
        ("A2", '=CONCAT("两肺","纹理增多")'),
        ("A3", "右侧肋膈角变钝"),
        ("A4", None),
        ("A5", "主动脉迂曲"),
    ]:
        sheet.append(list(row))
    sheet.merge_cells("B4:B5")  # A3's text spans A4's row too
    book.save(path)
    assert [(r.report_id, r.text, r.error) for r in read_reports(path)] == [
        ("A1", "心影增大", None),
        (
            "A2",
            "",
            f'{path} sheet \'报告\' cell B3: formula =CONCAT("两肺","纹理增多") has no '
            "saved value; open and save the file in Excel, or paste values",
        ),
        ("A3", "右侧肋膈角变钝", None),
        ("A4", "", f"{path} sheet '报告' cell B5: inside merged cells B4:B5; unmerge them"),
        ("A5", "主动脉迂曲", None),
    ]


def test_old_xls_is_refused(tmp_path):
    path = tmp_path / "r.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(ReportFileError) as err:
        read_reports(path)
    assert str(err.value) == f"{path}: .xls (Excel 97-2003) is not read; save it as .xlsx"


_AWKWARD = st.sampled_from(["\u2028", "\u2029", "\u0085", "\x00", '"', "\n", "\r", ",", "\t", "{"])
_TEXT = st.text(st.characters(exclude_categories=["Cs"]) | _AWKWARD, max_size=30)
_SURROGATE = st.characters(categories=["Cs"])
_ID = st.text(st.characters(exclude_categories=["Cs"]) | _AWKWARD, min_size=1, max_size=8).filter(
    lambda s: s == s.strip()
)


@st.composite
def _records(draw):
    """(id, text, has a lone surrogate) with unique ids; surrogates only where JSON can carry
    them (as \\ud800 escapes)."""
    ids = draw(st.lists(_ID, min_size=1, max_size=6, unique=True))
    jsonl = draw(st.booleans())
    out = []
    for rid in ids:
        text = draw(_TEXT)
        bad = jsonl and draw(st.booleans())
        if bad:
            text = text[: len(text) // 2] + draw(_SURROGATE) + text[len(text) // 2 :]
        out.append((rid, text, bad))
    return jsonl, draw(st.booleans()), out


@settings(max_examples=60, deadline=None)
@given(_records())
def test_any_unicode_gives_one_output_row_per_record_in_order_with_its_id(base_labeler, case):
    """CSV or JSONL with U+2028, U+0085, NUL, quotes, newlines and (JSONL) surrogate escapes:
    the labels CSV has one row per record, in input order, with the record's own id."""
    import csv
    import tempfile
    from pathlib import Path

    from labeler.io import render, write_outputs

    jsonl, ascii_only, records = case
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / ("r.jsonl" if jsonl else "r.csv")
        if jsonl:
            lines = [
                json.dumps({"id": i, "text": t}, ensure_ascii=ascii_only or bad)
                for i, t, bad in records
            ]
            src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        else:
            with open(src, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["report_id", "text"])
                writer.writerows((i, t) for i, t, _ in records)
        out = Path(tmp) / "labels.csv"
        rendered = (render(base_labeler.label(r)) for r in read_reports(src))
        list(write_outputs(rendered, out, base_labeler.regions))
        with open(out, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))[1:]
    assert [row[0] for row in rows] == [i for i, _, _ in records]
    assert [bool(row[-1]) for row in rows] == [bad for _, _, bad in records]

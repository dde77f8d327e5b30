"""The audit's CSV files are for people: Excel reads them as UTF-8 (a byte-order mark) and runs
no formula from report text or ids (OWASP), and pandas reads them back as written."""

from __future__ import annotations

import pandas as pd

from labeler.audit import run_audit, write_audit
from labeler.types import Report

HOSTILE = [
    Report("=cmd|x", "@SUM(1+1)，心影增大。", 0),
    Report("+R2", '=HYPERLINK("http://e","点")。两肺纹理增多，心影不大', 1),
    Report("-R3", "心影增大。心影不大。", 2),
]


def test_audit_csvs_neutralise_formulas_and_open_in_excel(base_labeler, tmp_path):
    write_audit(run_audit(base_labeler, HOSTILE), tmp_path)
    for name in ("rule_hits.csv", "unmatched.csv", "conflicts.csv"):
        assert (tmp_path / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    read = {
        name: pd.read_csv(tmp_path / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in ("rule_hits", "unmatched", "conflicts")
    }
    assert read["unmatched"][["clause", "example", "report_ids"]].values.tolist() == [
        ["'=HYPERLINK(\"HTTP://E", '\'=HYPERLINK("http://e","点")。', "'+R2"],
        ["SUM(1+1", "'@SUM(1+1)，心影增大。", "'=cmd|x"],
        ["点", '\'=HYPERLINK("http://e","点")。', "'+R2"],
    ]
    assert read["conflicts"][["report_id", "row", "region"]].values.tolist() == [
        ["'-R3", "3", "heart"]
    ]
    hits = read["rule_hits"].set_index("rule_id")
    assert hits.loc["heart.anchor", "example_1"] == "'@SUM(1+1)，心影增大。"
    assert list(read["rule_hits"].columns)[0] == "rule_id"  # the BOM is not part of the name

"""The review folder's files, the page as markup (escaping, no network), and gold import."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from labeler.audit import audit_records
from labeler.io import label_columns
from labeler.review import ReviewError, Sampled, import_gold, load_review, write_review
from labeler.review.html import render_page
from labeler.types import Report

HOSTILE = "<script>alert('x')</script></template>&amp; 心影增大。"
REPORTS = {
    "R1": "两肺纹理增多，心影不大。",
    "X2": HOSTILE,
    "R3": "主动脉结钙化，两膈面光整。",
}


@pytest.fixture
def review(base_labeler, tmp_path):
    reports = [Report(rid, text, i) for i, (rid, text) in enumerate(REPORTS.items())]
    records = list(audit_records(base_labeler, reports))
    sample = [
        Sampled(r, "conflict" if i else "negative", 10 * (i + 1), 1) for i, r in enumerate(records)
    ]
    folder = tmp_path / "review"
    written = write_review(
        sample,
        base_labeler.regions,
        "base 1.0",
        folder,
        seed=7,
        population=60,
        region_names={"lungs": "两肺"},
    )
    return folder, written


def test_the_four_files(review):
    folder, written = review
    assert sorted(p.name for p in written) == sorted(p.name for p in folder.iterdir())
    sample = (folder / "sample.csv").read_text(encoding="utf-8").splitlines()
    assert sample == [
        "report_id,row,stratum,stratum_size,stratum_sampled,weight",
        "R1,1,negative,10,1,10.000000",
        "X2,2,conflict,20,1,20.000000",
        "R3,3,conflict,30,1,30.000000",
    ]
    labels = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False)
    assert list(labels.columns) == label_columns(("thorax", "lungs", "aorta", "heart", "diaphragm"))
    assert list(labels["report_id"]) == ["R1", "X2", "R3"]
    assert list(labels.loc[0, ["lungs", "lungs_state", "heart_state"]]) == [
        "1",
        "positive",
        "negative",
    ]
    data = load_review(folder)
    assert data["population"] == 60 and data["seed"] == 7 and not data["blind"]
    assert data["reports"][1]["text"] == HOSTILE
    assert data["reports"][0]["states"]["lungs"] == "positive"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict] = []
        self.templates: dict[str, str] = {}
        self._template: str | None = None
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self._script = {**a, "text": ""}
        elif tag == "template":
            self._template = a["id"]
            self.templates[a["id"]] = ""
        elif self._template is not None and tag != "mark":
            raise AssertionError(f"markup <{tag}> inside a report's text")

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None
        elif tag == "template":
            self._template = None

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data
        elif self._template is not None:
            self.templates[self._template] += data


def test_page_escapes_report_text_and_keeps_to_itself(review):
    folder, _ = review
    html = (folder / "index.html").read_text(encoding="utf-8")
    page = _Page()
    page.feed(html)
    assert [s.get("type") for s in page.scripts] == ["application/json", None]
    assert page.templates["t1"] == HOSTILE  # shown as text, marks aside
    data = json.loads(page.scripts[0]["text"])
    assert [r["id"] for r in data["reports"]] == ["R1", "X2", "R3"]
    assert "<" not in page.scripts[0]["text"]  # nothing can close the data element early
    assert "default-src 'none'" in html
    assert not re.search(r"https?://", html)
    assert "两肺" in html  # region names from the pack


def test_pre_filled_and_blind_pages_differ_only_in_the_flag(review):
    folder, _ = review
    data = load_review(folder)
    assert '"blind":false' in render_page(data)
    assert '"blind":true' in render_page({**data, "blind": True})


def test_import_gold_loads_answers_into_the_page(review, tmp_path):
    folder, _ = review
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "report_id,thorax,lungs,aorta,heart,diaphragm,thorax_state,lungs_state,aorta_state,"
        "heart_state,diaphragm_state,note,reviewer,reviewed_at\n"
        "X2,0,0,0,1,0,not_mentioned,not_mentioned,not_mentioned,positive,not_mentioned,"
        "含<b>,王,2026-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    assert import_gold(folder, gold).count == 1
    imported = load_review(folder)["imported"]
    assert imported["X2"]["states"]["heart"] == "positive"
    assert imported["X2"]["note"] == "含<b>" and imported["X2"]["at"] == "2026-01-01T00:00:00Z"
    html = (folder / "index.html").read_text(encoding="utf-8")
    assert "\\u003cb\\u003e" in html and "含<b>" not in html
    assert import_gold(folder, gold).replaced == 1


GOLD_HEAD = "report_id,thorax_state,lungs_state,aorta_state,heart_state,diaphragm_state\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Z9,negative,negative,negative,negative,negative\n", "report 'Z9' is not in this review"),
        ("R1,negative,maybe,negative,negative,negative\n", "row 2: lungs_state='maybe'"),
        (
            "R1,negative,negative,negative,negative,negative\n" * 2,
            "row 3: report 'R1' appears more than once",
        ),
    ],
)
def test_import_gold_refuses_what_does_not_fit(review, tmp_path, body, message):
    folder, _ = review
    gold = tmp_path / "gold.csv"
    gold.write_text(GOLD_HEAD + body, encoding="utf-8")
    with pytest.raises(ReviewError, match=re.escape(message)):
        import_gold(folder, gold)


def test_import_gold_needs_the_state_columns(review, tmp_path):
    folder, _ = review
    gold = tmp_path / "gold.csv"
    gold.write_text("report_id,thorax,lungs,aorta,heart,diaphragm\nR1,0,1,0,0,0\n")
    with pytest.raises(ReviewError, match="no column thorax_state"):
        import_gold(folder, gold)


def test_load_review_refuses_a_folder_without_one(tmp_path):
    with pytest.raises(ReviewError, match="no such file"):
        load_review(tmp_path)
    (tmp_path / "review.json").write_text('{"format": "other"}')
    with pytest.raises(ReviewError, match="not a cxrlabel-review/1 file"):
        load_review(tmp_path)

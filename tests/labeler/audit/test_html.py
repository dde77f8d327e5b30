"""index.html: every report, spans at the right offsets, everything escaped, and (where Debian's
chromium is installed) a page that runs without console errors."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from labeler.audit import audit_records, summarise, write_audit
from labeler.audit.html import highlight, render_html
from labeler.audit.record import HitRecord
from labeler.io import read_reports
from labeler.types import Report
from tests.support import CHROMIUM_FLAGS

HOSTILE = [
    "<script>alert('x')</script>两肺纹理增多。",
    "A&B \"quoted\" 'single' <b>心影</b>增大。",
    "右下肺见斑片影</div></section><script>document.title='pwned'</script>",
]


class _Page(HTMLParser):
    """Collects report cards: id, text, and marks (start, end, classes, rules, text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[dict] = []
        self.scripts = 0
        self._in_text = self._in_h3 = False
        self._mark: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        elif tag == "section" and a.get("class") == "report":
            self.cards.append({"attrs": a, "id": "", "text": "", "marks": []})
        elif tag == "h3" and self.cards:
            self._in_h3 = True
        elif tag == "div" and a.get("class") == "text":
            self._in_text = True
        elif tag == "mark" and self._in_text:
            self._mark = {**a, "text": ""}
        elif self._in_text:
            raise AssertionError(f"markup <{tag}> inside a report's text")

    def handle_endtag(self, tag):
        if tag == "h3":
            self._in_h3 = False
        elif tag == "mark" and self._mark is not None:
            self.cards[-1]["marks"].append(self._mark)
            self._mark = None
        elif tag == "div" and self._in_text:
            self._in_text = False

    def handle_data(self, data):
        if self._in_h3 and not self.cards[-1]["id"]:
            self.cards[-1]["id"] = data.strip()
        if self._in_text:
            self.cards[-1]["text"] += data
            if self._mark is not None:
                self._mark["text"] += data


@pytest.fixture(scope="module")
def audited(base_labeler, tmp_path_factory):
    reports = read_reports("examples/reports.csv")
    reports += [Report(f"X{i}", text, len(reports) + i) for i, text in enumerate(HOSTILE)]
    records = list(audit_records(base_labeler, reports))
    audit = summarise(records, base_labeler.pack, show=len(reports))
    out = tmp_path_factory.mktemp("audit")
    write_audit(audit, out)
    return reports, records, out


@pytest.fixture(scope="module")
def page(audited):
    _, _, out = audited
    parser = _Page()
    parser.feed((out / "index.html").read_text(encoding="utf-8"))
    return parser


def test_all_four_files_are_written(audited):
    _, _, out = audited
    assert sorted(p.name for p in out.iterdir()) == [
        "conflicts.csv",
        "index.html",
        "rule_hits.csv",
        "unmatched.csv",
    ]


def test_every_report_appears_with_its_text(audited, page):
    reports, _, _ = audited
    assert [c["id"] for c in page.cards] == [r.report_id for r in reports]
    assert [c["text"] for c in page.cards] == [r.text for r in reports]


def test_report_markup_is_shown_as_text(page):
    assert page.scripts == 1  # the page's own script, and no other
    texts = {c["id"]: c["text"] for c in page.cards}
    assert texts["X0"].startswith("<script>alert('x')</script>")
    assert texts["X2"].endswith("<script>document.title='pwned'</script>")


def test_marks_sit_at_their_offsets_and_cover_every_hit(audited, page):
    reports, records, _ = audited
    for report, record, card in zip(reports, records, page.cards, strict=True):
        covered: dict[str, set[int]] = {}
        for mark in card["marks"]:
            start, end = int(mark["data-start"]), int(mark["data-end"])
            assert report.text[start:end] == mark["text"], report.report_id
            for rule in mark["data-rules"].split():
                covered.setdefault(rule, set()).update(range(start, end))
        for hit in record.hits:
            assert set(range(hit.start, hit.end)) <= covered[hit.rule_id], report.report_id


def test_marks_are_classed_by_cue_kind(page):
    card = next(c for c in page.cards if c["id"] == "X1")
    marks = {(m["text"], m["class"]) for m in card["marks"]}
    assert ("心影", "k-anchor") in marks
    assert ("增大", "k-finding") in marks


def test_filters_list_regions_states_and_rules(audited):
    _, _, out = audited
    html = (out / "index.html").read_text(encoding="utf-8")
    for needle in ('<option value="lungs">', '<option value="uncertain">', 'value="neg.not_seen"'):
        assert needle in html
    assert "http://" not in html and "https://" not in html


def test_overlapping_hits_are_cut_into_stretches():
    hits = [HitRecord("a", "anchor", 0, 2, 0), HitRecord("b", "anchor", 1, 3, 0)]
    html = highlight("两肺纹", hits)
    parser = _Page()
    parser.feed(f'<section class="report"><h3>t</h3><div class="text">{html}</div></section>')
    marks = [
        (m["data-start"], m["data-end"], m["data-rules"], m["text"])
        for m in parser.cards[0]["marks"]
    ]
    assert marks == [("0", "1", "a", "两"), ("1", "2", "a b", "肺"), ("2", "3", "b", "纹")]


def test_report_ids_and_pack_text_are_escaped(base_labeler):
    records = audit_records(base_labeler, [Report('<img src=x onerror="1">', "心影增大。", 0)])
    html = render_html(summarise(records, base_labeler.pack))
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;1&quot;&gt;" in html


_CHROMIUM_FLAGS = [
    "--headless",
    *CHROMIUM_FLAGS,
    "--enable-logging=stderr",
    "--v=0",
]


def _chromium(page: Path, profile: Path) -> tuple[str, str]:
    """The page's DOM after its scripts ran, and Chromium's log (console messages included)."""
    done = subprocess.run(
        [
            shutil.which("chromium"),
            *_CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout, done.stderr


def _console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_page_runs_in_headless_chromium_without_console_errors(audited, tmp_path):
    _, _, out = audited
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    # the same probe must see an error where there is one, or its silence proves nothing
    _, log = _chromium(broken, tmp_path / "profile-broken")
    assert any("undefinedFunction" in line for line in _console_errors(log)), log[-2000:]
    dom, log = _chromium(out / "index.html", tmp_path / "profile")
    assert _console_errors(log) == []
    assert 'data-ready="1"' in dom  # the filter script ran to its end
    assert "reports shown" in dom

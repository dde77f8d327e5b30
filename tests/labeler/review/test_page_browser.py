"""The review page in a real browser (headless Debian chromium through Playwright): answers by
keyboard and mouse survive a reload, export gives the expected gold.csv byte for byte, an
imported partial export merges by time, report markup stays text, no console errors; and a page
of 1,000 reports is interactive fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labeler.audit import audit_records
from labeler.review import Sampled, import_gold, review_sample, write_review
from labeler.types import Report

CLOCK = "2026-03-04T05:06:07Z"
TEXTS = {
    "R1": "两肺纹理增多，心影不大。",
    "X2": "<script>document.title='pwned'</script>右下肺见斑片影。",
    "R3": "主动脉结钙化，两膈面光整。",
    "R4": "胸廓对称，两肺未见异常。",
    "R5": "心影增大。",
}
HEAD = (
    "report_id,thorax,lungs,aorta,heart,diaphragm,thorax_state,lungs_state,aorta_state,"
    "heart_state,diaphragm_state,note,reviewer,reviewed_at\n"
)
EXPECTED = (
    HEAD
    + "R1,0,1,0,1,0,not_mentioned,positive,not_mentioned,uncertain,not_mentioned,"
    + "心影饱满？,李医生,2026-03-04T05:06:07Z\n"
    + "X2,0,1,0,0,0,negative,uncertain,not_mentioned,not_mentioned,not_mentioned,"
    + ",李医生,2026-03-04T05:06:07Z\n"
    + "R3,0,0,1,0,0,not_mentioned,negative,positive,not_mentioned,negative,"
    + '"有逗号, 和""引号""",李医生,2026-03-04T05:06:07Z\n'
).encode()


def _review(base_labeler, folder: Path, texts: dict[str, str]) -> Path:
    """A review of `texts` in this order (one stratum, weight 1)."""
    reports = [Report(rid, text, i) for i, (rid, text) in enumerate(texts.items())]
    records = list(audit_records(base_labeler, reports))
    sample = [Sampled(r, "all", len(records), len(records)) for r in records]
    write_review(sample, base_labeler.regions, "base test", folder, population=len(records))
    return folder / "index.html"


def _open(browser, page_path: Path, context=None, clock=True):
    """A page with its console errors collected and its clock fixed at CLOCK (Date only is not
    possible: Playwright's clock also replaces `performance`); `context` keeps localStorage
    across pages."""
    context = context or browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
    if clock:
        page.clock.set_fixed_time(CLOCK)
    page.goto(page_path.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page, errors


def _checked(page, region: str) -> str | None:
    return page.evaluate(
        'r => { const i = document.querySelector(`tr[data-region="${r}"] input:checked`);'
        " return i ? i.value : null; }",
        region,
    )


def _export(page) -> bytes:
    with page.expect_download() as info:
        page.click("#export")
    return Path(info.value.path()).read_bytes()


def test_console_probe_sees_errors(chromium, tmp_path):
    """The listener the page test relies on does hear an error where there is one."""
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(broken.as_uri())
    page.wait_for_load_state()
    assert any("undefinedFunction" in e for e in errors)
    page.close()


def test_answer_reload_export_import(chromium, base_labeler, tmp_path):
    index = _review(base_labeler, tmp_path / "review", TEXTS)
    context = chromium.new_context(accept_downloads=True)
    page, errors = _open(chromium, index, context)
    page.fill("#reviewer", "李医生")
    page.click("#text")  # leave the name field; keys now reach the page
    # report 1, by keyboard: heart uncertain, a note, Enter
    assert page.text_content("#rid") == "R1"
    page.keyboard.press("4")
    page.keyboard.press("u")
    page.keyboard.press("t")
    page.keyboard.type("心影饱满？")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    # report 2, by mouse
    assert page.text_content("#rid") == "X2"
    page.click('tr[data-region="lungs"] input[value="uncertain"]')
    page.click('tr[data-region="thorax"] input[value="negative"]')
    page.click("#done")
    # report 3, keys and mouse: lungs negative, a note with a comma and quotes
    assert page.text_content("#rid") == "R3"
    page.keyboard.press("2")
    page.keyboard.press("n")
    page.click("#note")
    page.keyboard.type('有逗号, 和"引号"')
    page.click("#done")
    assert page.text_content("#progress") == "3 of 5 reviewed"

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#progress") == "3 of 5 reviewed"
    assert page.input_value("#reviewer") == "李医生"
    assert page.text_content("#rid") == "R4"  # where the reviewer was
    page.click('#list button[data-i="0"]')
    assert _checked(page, "heart") == "uncertain" and _checked(page, "lungs") == "positive"
    assert page.input_value("#note") == "心影饱满？"
    assert page.locator("#list button.done").count() == 3

    page.click('#list button[data-i="1"]')  # the report holding <script>: shown as text
    assert page.inner_text("#text").startswith("<script>document.title='pwned'</script>")
    assert page.locator("#text script").count() == 0
    assert page.title() != "pwned"

    assert _export(page) == EXPECTED

    # a partial export from another reviewer: R4 is new; R1 is older than this browser's answer
    gold = tmp_path / "other.csv"
    gold.write_text(
        HEAD
        + "R1,0,0,0,0,0,negative,negative,negative,negative,negative,,王医生,2026-01-01T00:00:00Z\n"
        + "R4,0,0,0,0,0,negative,negative,not_mentioned,not_mentioned,not_mentioned,"
        "ok,王医生,2026-03-05T00:00:00Z\n",
        encoding="utf-8",
    )
    assert import_gold(tmp_path / "review", gold).count == 2
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.text_content("#progress") == "4 of 5 reviewed"
    lines = _export(page).decode().splitlines()
    assert lines[1] == EXPECTED.decode().splitlines()[1]  # R1: this browser's later answer kept
    assert lines[4] == (
        "R4,0,0,0,0,0,negative,negative,not_mentioned,not_mentioned,not_mentioned,"
        "ok,王医生,2026-03-05T00:00:00Z"
    )
    assert errors == []
    context.close()


def test_blind_page_starts_empty_and_refuses_an_unfinished_report(chromium, base_labeler, tmp_path):
    reports = [Report("B1", "心影增大。", 0)]
    records = list(audit_records(base_labeler, reports))
    folder = tmp_path / "blind"
    write_review(
        [Sampled(records[0], "all", 1, 1)], base_labeler.regions, "base", folder, blind=True
    )
    page, errors = _open(chromium, folder / "index.html")
    assert [_checked(page, r) for r in base_labeler.regions] == [None] * 5
    assert page.text_content('tr[data-region="heart"] .ev') == ""  # no evidence text either
    page.keyboard.press("Enter")
    assert page.text_content("#msg") == "set thorax, lungs, aorta, heart, diaphragm first"
    for key in "mmmpm":
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    assert page.text_content("#progress") == "1 of 1 reviewed"
    assert errors == []
    page.context.close()


@pytest.mark.slow
def test_a_page_of_1000_reports_is_interactive_fast(chromium, base_labeler, tmp_path):
    source = [r.text for r in _example_reports()]
    texts = {f"P{i:04d}": source[i % len(source)] + f"（{i}）" for i in range(1000)}
    sample = review_sample(base_labeler, _reports(texts), None, seed=1)
    folder = tmp_path / "big"
    write_review(sample, base_labeler.regions, "base", folder, population=1000)
    started = time.perf_counter()
    page, errors = _open(chromium, folder / "index.html", clock=False)
    wall = time.perf_counter() - started
    ready_ms = page.evaluate("performance.getEntriesByName('cxrlabel-review-ready')[0].startTime")
    # one keystroke: move to the next report (clone its text, paint 5 regions, save progress)
    per_key_ms = page.evaluate(
        "() => { const t = performance.now();"
        " for (let i = 0; i < 50; i++) document.dispatchEvent("
        "new KeyboardEvent('keydown', {key: 'j', bubbles: true}));"
        " return (performance.now() - t) / 50; }"
    )
    print(
        f"\n1,000 reports: ready {ready_ms:.0f} ms after navigation start "
        f"({wall:.2f} s to open), {per_key_ms:.1f} ms per keystroke"
    )
    assert page.text_content("#rid") == sample[50].record.report_id
    assert ready_ms < 3000 and per_key_ms < 50
    assert errors == []
    page.context.close()


def _example_reports() -> list[Report]:
    from labeler.io import read_reports

    return read_reports("examples/reports.csv")


def _reports(texts: dict[str, str]) -> list[Report]:
    return [Report(rid, text, i) for i, (rid, text) in enumerate(texts.items())]

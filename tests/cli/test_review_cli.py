"""`cxrlabel review`, `agree` and `evaluate` (intervals, population estimates) through click."""

from __future__ import annotations

import csv
import json
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from cli.label import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review") / "review"
    result = run("review", "examples/reports.csv", "-o", folder, "--sample", "40", "--seed", "3")
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_review_writes_the_folder_and_shows_the_strata(reviewed):
    folder, output = reviewed
    assert sorted(p.name for p in folder.iterdir()) == [
        "index.html",
        "labels.csv",
        "review.json",
        "sample.csv",
    ]
    assert output.startswith("40 of 371 reports sampled")
    sample = pd.read_csv(folder / "sample.csv", dtype={"report_id": str})
    assert len(sample) == 40 and sample["report_id"].is_unique
    assert (sample["stratum_size"] / sample["stratum_sampled"]).round(6).equals(sample["weight"])
    # the weights stand for the whole corpus
    assert sample["weight"].sum() == pytest.approx(371)
    for stratum, size in sample.groupby("stratum")["stratum_size"].first().items():
        assert f"{stratum:<22} {size:>7}" in output
    labels = pd.read_csv(folder / "labels.csv", dtype={"report_id": str})
    assert list(labels["report_id"]) == list(sample["report_id"])


def test_review_is_reproducible(reviewed, tmp_path):
    folder, _ = reviewed
    again = tmp_path / "again"
    assert (
        run(
            "review", "examples/reports.csv", "-o", again, "--sample", "40", "--seed", "3"
        ).exit_code
        == 0
    )
    assert (again / "sample.csv").read_bytes() == (folder / "sample.csv").read_bytes()
    assert (again / "index.html").read_bytes() == (folder / "index.html").read_bytes()


def test_review_refuses_to_overwrite_a_review(reviewed):
    folder, _ = reviewed
    result = run("review", "examples/reports.csv", "-o", folder)
    assert result.exit_code == 2
    assert "already holds a review: resume it with --resume" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["examples/reports.csv"], "give REPORTS and -o FOLDER"),
        (["--import", "examples/gold.csv"], "--import needs --resume"),
    ],
)
def test_review_usage_errors(args, message):
    result = run("review", *args)
    assert result.exit_code == 2 and message in result.output


def test_review_blind_flag_reaches_the_page(tmp_path):
    result = run("review", "examples/reports.csv", "-o", tmp_path / "b", "--sample", "5", "--blind")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "b" / "review.json").read_text(encoding="utf-8"))["blind"]
    assert "(blind: the labeler&#x27;s states are hidden)" in (
        tmp_path / "b" / "index.html"
    ).read_text(encoding="utf-8")


def _partial_gold(folder, path, n=5):
    """The labeler's own rows for the first n sampled reports, in the gold format."""
    labels = pd.read_csv(folder / "labels.csv", dtype=str, keep_default_na=False).head(n)
    gold = labels.drop(columns=["no_region_mentioned", "error"])
    gold["note"], gold["reviewer"], gold["reviewed_at"] = "", "李", "2026-01-01T00:00:00Z"
    gold.to_csv(path, index=False)
    return gold


def test_resume_imports_a_partial_export(reviewed, tmp_path):
    folder, _ = reviewed
    gold = _partial_gold(folder, tmp_path / "gold.csv")
    result = run("review", "--resume", folder, "--import", tmp_path / "gold.csv")
    assert result.exit_code == 0, result.output
    assert f"5 answers of {tmp_path / 'gold.csv'} loaded" in result.output
    imported = json.loads((folder / "review.json").read_text(encoding="utf-8"))["imported"]
    assert sorted(imported) == sorted(gold["report_id"])
    assert gold["report_id"].iloc[0] in (folder / "index.html").read_text(encoding="utf-8")


def test_resume_without_import_writes_the_page_again(reviewed):
    folder, _ = reviewed
    (folder / "index.html").unlink()
    result = run("review", "--resume", folder)
    assert result.exit_code == 0, result.output
    assert (folder / "index.html").is_file()


def test_resume_refuses_a_gold_of_another_sample(reviewed, tmp_path):
    folder, _ = reviewed
    result = run("review", "--resume", folder, "--import", "examples/gold.csv")
    assert result.exit_code == 2
    assert "is not in this review's sample" in result.output


def test_resume_refuses_a_folder_without_a_review(tmp_path):
    result = run("review", "--resume", tmp_path)
    assert result.exit_code == 2 and "review.json: no such file" in result.output


def test_evaluate_prints_intervals_and_population_estimates(reviewed, tmp_path):
    folder, _ = reviewed
    gold = _partial_gold(folder, tmp_path / "gold.csv", n=30)
    gold.loc[0, ["heart", "heart_state"]] = (
        ["1", "positive"]
        if gold.loc[0, "heart"] == "0"
        else [
            "0",
            "negative",
        ]
    )
    gold.to_csv(tmp_path / "gold.csv", index=False)
    result = run(
        "evaluate",
        folder / "labels.csv",
        tmp_path / "gold.csv",
        "--sample",
        folder / "sample.csv",
        "--json",
        tmp_path / "m.json",
        "--resamples",
        "300",
    )
    assert result.exit_code == 0, result.output
    assert "30 reports compared (95% confidence intervals in brackets)" in result.output
    assert "estimated on the corpus (" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    lungs = metrics["intervals"][1]
    assert lungs["region"] == "lungs" and lungs["accuracy"] == [pytest.approx(0.886, abs=1e-3), 1.0]
    heart = metrics["scores"][3]
    assert heart["accuracy"] == pytest.approx(29 / 30)
    pop = metrics["population"]
    assert pop["scores"][1]["accuracy"] == 1.0 and pop["scores"][3]["accuracy"] < 1.0
    assert 0 < pop["size"] <= 371


def test_evaluate_sample_of_another_review_is_refused(reviewed, tmp_path):
    folder, _ = reviewed
    result = run(
        "evaluate", "examples/gold.csv", "examples/gold.csv", "--sample", folder / "sample.csv"
    )
    assert result.exit_code == 2
    assert "compared reports are not in the sample" in result.output


def test_agree_prints_kappa_and_writes_the_adjudication_list(tmp_path):
    gold = pd.read_csv("examples/gold.csv", dtype=str, keep_default_na=False).head(40)
    other = gold.copy()
    other.loc[3, "lungs_state"] = (
        "uncertain" if other.loc[3, "lungs_state"] != "uncertain" else "negative"
    )
    other.loc[3, "note"] = "=1+1"
    gold.to_csv(tmp_path / "a.csv", index=False)
    other.to_csv(tmp_path / "b.csv", index=False)
    result = run("agree", tmp_path / "a.csv", tmp_path / "b.csv", "-o", tmp_path / "adj.csv")
    assert result.exit_code == 0, result.output
    assert "40 reports read by both" in result.output
    assert "1 region states differ in 1 reports" in result.output
    assert "thorax      1.000  1.000       1.000     1.000" in result.output
    with open(tmp_path / "adj.csv", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["report_id", "region", "state_a", "state_b"]
    assert rows[1][:2] == [gold.loc[3, "report_id"], "lungs"] and rows[1][-1] == "'=1+1"


def test_agree_refuses_a_file_without_states(tmp_path):
    (tmp_path / "a.csv").write_text("report_id,lungs\nr1,1\n")
    result = run("agree", tmp_path / "a.csv", "examples/gold.csv")
    assert result.exit_code == 2 and "no column thorax_state" in result.output


@pytest.mark.slow
def test_review_of_10000_reports_takes_under_10_seconds(tmp_path):
    """Issue 16's figure: 10,000 reports, --sample 300, the whole command (labelling, the sample,
    the four files) in under 10 s. Every text is distinct, so the per-text cache cannot help."""
    texts = pd.read_csv("examples/reports.csv", dtype=str, keep_default_na=False)["text"]
    with open(tmp_path / "reports.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["report_id", "text"])
        writer.writerows(
            (f"B{i:05d}", f"{texts[i % len(texts)]}与{i}号片对比。") for i in range(10_000)
        )
    started = time.perf_counter()
    result = run("review", tmp_path / "reports.csv", "-o", tmp_path / "r", "--sample", "300")
    elapsed = time.perf_counter() - started
    print(f"\nreview of 10,000 reports, --sample 300: {elapsed:.1f} s")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "r" / "sample.csv")) == 300
    assert elapsed < 10

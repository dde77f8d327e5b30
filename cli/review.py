"""`cxrlabel review` (a stratified sample of a hospital's reports to read, as one page whose
answers export as gold.csv) and `cxrlabel agree` (how far two reviewers' gold files agree)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from cli.options import (
    BadInput,
    encoding_option,
    id_col_option,
    reports_or_exit,
    rules_option,
    sheet_option,
    text_col_option,
    workers_option,
)


@click.command()
@click.argument(
    "reports", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="REPORTS"
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for index.html, sample.csv, labels.csv and review.json.",
)
@rules_option
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=300,
    show_default=True,
    help="Reports to draw (stratified; all of them when the corpus is smaller).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sample.")
@click.option(
    "--blind",
    is_flag=True,
    help="Leave the state controls empty and hide the labeler's states and evidence text, so the "
    "reviewer is not anchored (cue spans stay highlighted).",
)
@click.option(
    "--resume",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A review folder to write the page of again (with --import: with these answers).",
)
@click.option(
    "--import",
    "gold",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --resume: a gold.csv (a partial export of the page) to load into the page.",
)
@workers_option
@id_col_option
@text_col_option
@encoding_option
@sheet_option
def review(
    reports,
    output,
    rules,
    sample,
    seed,
    blind,
    resume,
    gold,
    workers,
    id_col,
    text_cols,
    encoding,
    sheet,
):
    """Draw a stratified sample of REPORTS for a radiologist to read and write it as one page.

    Open OUTPUT/index.html in a browser (no server, no network): each report shows its cue
    spans, and per region a state control pre-filled with the labeler's state (empty with
    --blind). Answers stay in the browser; "export gold.csv" writes them in the labeling
    guide's format with the reviewer's name and time. Score the labeler with
    `cxrlabel evaluate OUTPUT/labels.csv gold.csv --sample OUTPUT/sample.csv`.
    """
    if resume is not None:
        _resume(resume, gold, reports, output)
        return
    if gold is not None:
        raise click.UsageError("--import needs --resume REVIEW_FOLDER")
    if reports is None or output is None:
        raise click.UsageError("give REPORTS and -o FOLDER (or --resume FOLDER)")
    _new_review(
        reports, output, rules, sample, seed, blind, workers, id_col, text_cols, encoding, sheet
    )


def _new_review(
    reports, output, rules, sample, seed, blind, workers, id_col, text_cols, encoding, sheet
):
    from tqdm import tqdm

    from cli.rules import load_or_exit
    from labeler.labeler import Labeler
    from labeler.review import review_sample, write_review
    from toolkit.files import OutputError

    if (output / "review.json").exists():
        raise BadInput(
            f"{output} already holds a review: resume it with --resume {output}, or choose "
            "another folder (a new sample would orphan the answers kept in the browser)"
        )
    labeler = Labeler(load_or_exit(rules))
    corpus = reports_or_exit(reports, id_col, text_cols, encoding, sheet)
    started = time.perf_counter()
    with tqdm(total=len(corpus), unit="report", disable=None, file=sys.stderr) as bar:
        picked = review_sample(labeler, corpus, sample, seed, workers, progress=bar.update)
    pack = f"{labeler.pack.name} {labeler.pack.version}"
    try:
        written = write_review(
            picked,
            labeler.regions,
            pack,
            output,
            seed=seed,
            blind=blind,
            source=str(reports),
            population=len(corpus),
            region_names={r.id: r.name for r in labeler.pack.regions},
        )
    except OutputError as exc:
        raise BadInput(str(exc)) from exc
    elapsed = time.perf_counter() - started
    click.echo(
        f"{len(picked)} of {len(corpus)} reports sampled in {elapsed:.1f} s (pack {pack}, "
        f"seed {seed}{', blind' if blind else ''})"
    )
    strata: dict[str, list[int]] = {}
    for s in picked:
        strata.setdefault(s.stratum, [s.stratum_size, 0])[1] += 1
    click.echo(f"{'stratum':<22} {'corpus':>7} {'sampled':>7} {'weight':>8}")
    for name, (size, n) in sorted(strata.items(), key=lambda kv: -kv[1][0]):
        click.echo(f"{name:<22} {size:>7} {n:>7} {size / n:>8.2f}")
    for path in written:
        click.echo(f"  {path}")
    click.echo(f"open {output / 'index.html'} in a browser to start")


def _resume(folder, gold, reports, output):
    from labeler.review import ReviewError, import_gold, rewrite_page
    from toolkit.files import OutputError

    if reports is not None or output is not None:
        raise click.UsageError("--resume takes the review folder alone: no REPORTS, no -o")
    try:
        if gold is None:
            path = rewrite_page(folder)
            click.echo(f"wrote {path} again from {folder / 'review.json'}")
            return
        done = import_gold(folder, gold)
    except (ReviewError, OutputError) as exc:
        raise BadInput(str(exc)) from exc
    again = f" ({done.replaced} replace an earlier import)" if done.replaced else ""
    click.echo(f"{done.count} answers of {gold} loaded into {folder / 'index.html'}{again}")
    click.echo(
        "reload the page: an answer the browser holds from later than the file's reviewed_at "
        "is kept"
    )


@click.command()
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write every differing region as CSV, the adjudication list (for people: "
    "a byte-order mark, formulas made inert).",
)
@click.option(
    "--max-shown",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Differences printed.",
)
def agree(a, b, output, max_shown):
    """How far two reviewers' gold files A and B agree: per region Cohen's kappa and raw
    agreement, on the four states and on the 0/1 label, and the reports where they differ."""
    import csv
    import math

    from labeler.agree import AgreeError
    from labeler.agree import agree as run
    from labeler.io import ReportFileError, atomic_write, read_table
    from labeler.packs import region_ids
    from toolkit.files import OutputError, formula_safe

    try:
        result = run(read_table(a), read_table(b), list(region_ids()), str(a), str(b))
    except (AgreeError, ReportFileError) as exc:
        raise BadInput(str(exc)) from exc

    def shown(x: float) -> str:
        return "  n/a" if math.isnan(x) else f"{x:5.3f}"

    click.echo(f"{result.compared} reports read by both")
    for ids, where in ((result.only_in_a, a), (result.only_in_b, b)):
        if ids:
            click.echo(f"{len(ids)} reports only in {where}: {', '.join(ids[:10])}")
    click.echo(f"{'region':<10} {'kappa':>6} {'agree':>6}   {'kappa 0/1':>9} {'agree 0/1':>9}")
    for s in result.regions:
        click.echo(
            f"{s.region:<10} {shown(s.kappa):>6} {s.agreement:6.3f}   "
            f"{shown(s.kappa_binary):>9} {s.agreement_binary:9.3f}"
        )
    differing = len({d.report_id for d in result.differences})
    click.echo(
        f"\n{len(result.differences)} region states differ in {differing} reports "
        f"({sum(d.changes_label for d in result.differences)} change the 0/1 label)"
    )
    for d in result.differences[:max_shown]:
        notes = "".join(f"  {who} note: {n}" for who, n in (("a", d.note_a), ("b", d.note_b)) if n)
        click.echo(f"  {d.report_id} {d.region}: a {d.state_a}, b {d.state_b}{notes}")
    if len(result.differences) > max_shown:
        click.echo(f"  … {len(result.differences) - max_shown} more; -o writes them all")
    if output:
        try:
            with atomic_write(output, newline="", bom=True) as handle:
                writer = csv.writer(handle)
                writer.writerow(
                    [
                        "report_id",
                        "region",
                        "state_a",
                        "state_b",
                        "changes_label",
                        "note_a",
                        "note_b",
                    ]
                )
                for d in result.differences:
                    writer.writerow(
                        formula_safe(v)
                        for v in (
                            d.report_id,
                            d.region,
                            d.state_a,
                            d.state_b,
                            int(d.changes_label),
                            d.note_a,
                            d.note_b,
                        )
                    )
        except OutputError as exc:
            raise BadInput(str(exc)) from exc
        click.echo(f"wrote {output}")

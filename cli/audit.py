"""`cxrlabel audit` (which rules fired on a corpus, what no rule understood) and `cxrlabel diff`
(what changes between two packs)."""

from __future__ import annotations

import csv
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
    strict_option,
    text_col_option,
    workers_option,
)
from cli.rules import load_or_exit
from labeler.audit.record import OUTSIDE
from labeler.io import atomic_write
from toolkit.files import formula_safe

reports_argument = click.argument(
    "reports", type=click.Path(dir_okay=False, path_type=Path), metavar="REPORTS"
)


@click.command()
@reports_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for rule_hits.csv, unmatched.csv, conflicts.csv and index.html.",
)
@rules_option
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=None,
    help="Audit a random sample of this many reports (kept in input order).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option(
    "--html-reports",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Reports index.html shows in full (the first ones, plus as many with a conflict).",
)
@workers_option
@id_col_option
@text_col_option
@encoding_option
@sheet_option
@strict_option
def audit(
    reports,
    output,
    rules,
    sample,
    seed,
    html_reports,
    workers,
    id_col,
    text_cols,
    encoding,
    sheet,
    strict,
):
    """Audit the rule hits of RULES on REPORTS: what fired, what nothing matched, conflicts.

    The CSV files are for people: they start with a UTF-8 byte-order mark (Excel reads them as
    UTF-8) and a cell that a spreadsheet would run as a formula (=, +, -, @ …) is prefixed with '.
    """
    from tqdm import tqdm

    from labeler.audit import run_audit, sample_reports, write_audit
    from labeler.labeler import Labeler
    from toolkit.files import OutputError

    labeler = Labeler(load_or_exit(rules))
    corpus = reports_or_exit(reports, id_col, text_cols, encoding, sheet)
    rows = sample_reports(corpus, sample, seed)
    started = time.perf_counter()
    with tqdm(total=len(rows), unit="report", disable=None, file=sys.stderr) as bar:
        result = run_audit(labeler, rows, workers=workers, show=html_reports, progress=bar.update)
    try:
        written = write_audit(result, output)
    except OutputError as exc:
        raise BadInput(str(exc)) from exc
    elapsed = time.perf_counter() - started
    fired = sum(1 for h in result.rule_hits if h.hits)
    click.echo(
        f"{result.reports} reports audited in {elapsed:.1f} s "
        f"({result.reports / max(elapsed, 1e-9):,.0f} reports/s, pack {result.pack})"
    )
    outside = sum(1 for u in result.unmatched if u.reason == OUTSIDE)
    click.echo(
        f"{fired} of {len(result.rule_hits)} rules fired; {len(result.unmatched) - outside} "
        f"distinct unmatched clauses, {outside} outside the chest; {len(result.conflicts)} "
        "conflicting region decisions"
    )
    if result.errors:
        click.echo(f"{result.errors} reports could not be audited: see index.html", err=True)
    for path in written:
        click.echo(f"  {path}")
    if strict and result.errors:
        click.echo("--strict: failing because some reports could not be audited", err=True)
        raise SystemExit(1)


@click.command()
@reports_argument
@click.option(
    "--rules",
    "packs",
    multiple=True,
    metavar="PACK",
    help="Give twice: the pack before, then the pack after (e.g. base, example_hospital).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write one row per changed region as CSV.",
)
@click.option(
    "--max-shown",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Changed reports printed in full.",
)
@workers_option
@id_col_option
@text_col_option
@encoding_option
def diff(reports, packs, output, max_shown, workers, id_col, text_cols, encoding):
    """Which reports and regions of REPORTS change between two packs, with the evidence."""
    from labeler.diff import DiffError, diff_packs, transitions
    from labeler.labeler import Labeler

    if len(packs) != 2:
        raise click.UsageError("give --rules exactly twice: the pack before and the pack after")
    before, after = (Labeler(load_or_exit(p)) for p in packs)
    rows = reports_or_exit(reports, id_col, text_cols, encoding)
    try:
        changed = list(diff_packs(rows, before, after, workers=workers))
    except DiffError as exc:
        raise click.UsageError(str(exc)) from exc
    a, b = before.pack.name, after.pack.name
    click.echo(f"{len(changed)} of {len(rows)} reports change from {a} to {b}")
    for (region, was, now), n in sorted(transitions(changed).items()):
        click.echo(f"  {region}: {was} -> {now}  {n}")
    for d in changed[:max_shown]:
        click.echo(f"\n{d.report_id} (row {d.row + 1}): {d.text}")
        for c in d.changes:
            click.echo(f"  {c.region}: {c.before.value} -> {c.after.value}")
            for side, evidence in (
                (f"before ({a})", c.evidence_before),
                (f"after ({b})", c.evidence_after),
            ):
                shown = "; ".join(f"{e.state} {e.rule_id} {e.text!r}" for e in evidence) or "-"
                click.echo(f"    {side}: {shown}")
        for side, error in (("before", d.error_before), ("after", d.error_after)):
            if error:
                click.echo(f"  error with {side}: {error}")
    if len(changed) > max_shown:
        click.echo(f"\n… {len(changed) - max_shown} more; -o writes them all")
    if output:
        _write_diff(output, changed)


def _write_diff(path: Path, changed) -> None:
    def cell(evidence) -> str:
        return "; ".join(f"{e.state} {e.rule_id}:{e.text}[{e.start}-{e.end}]" for e in evidence)

    # for people, like the audit's CSV files: a byte-order mark for Excel, formulas made inert
    with atomic_write(path, newline="", bom=True) as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["report_id", "region", "before", "after", "evidence_before", "evidence_after", "text"]
        )
        for d in changed:
            for c in d.changes:
                writer.writerow(
                    formula_safe(value)
                    for value in [
                        d.report_id,
                        c.region,
                        c.before.value,
                        c.after.value,
                        cell(c.evidence_before),
                        cell(c.evidence_after),
                        d.text,
                    ]
                )

"""`cxrlabel`: label Chinese chest-film reports with a rule pack, explain and evaluate."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import click

from cli.options import (
    BadInput,
    encoding_option,
    excel_option,
    id_col_option,
    not_mentioned_option,
    report_file_or_exit,
    rules_option,
    sheet_option,
    strict_option,
    text_col_option,
    uncertain_option,
    workers_option,
)
from labeler.io import render, write_outputs
from labeler.packs import PackError
from labeler.resolve import NotMentionedPolicy, UncertainPolicy, label_value


def _labeler(rules: str):
    from labeler.labeler import Labeler

    try:
        return Labeler(rules)
    except PackError as exc:
        raise click.UsageError(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cxr-toolkit")
def main() -> None:
    """Chinese chest X-ray reports → five-region labels with evidence."""
    from toolkit.procs import guard_processes

    guard_processes()  # workers die with this process; SIGTERM leaves no temporary file


@main.command()
@click.argument("reports", type=click.Path(allow_dash=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(allow_dash=True, path_type=Path),
    required=True,
    help="Labels CSV to write (- for standard output); a name ending in .parquet writes Parquet.",
)
@click.option(
    "--part-rows",
    type=click.IntRange(min=1),
    default=None,
    help="Write the Parquet output as a folder of part files of at most this many rows.",
)
@click.option(
    "--evidence",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Also write the evidence of every decision as JSON lines (- for standard output).",
)
@rules_option
@uncertain_option
@not_mentioned_option
@workers_option
@id_col_option
@text_col_option
@encoding_option
@sheet_option
@strict_option
@excel_option
def extract(
    reports,
    output,
    evidence,
    rules,
    uncertain,
    not_mentioned,
    workers,
    id_col,
    text_cols,
    encoding,
    sheet,
    strict,
    excel,
    part_rows,
):
    """Label REPORTS (CSV, TSV, XLSX, JSONL, Parquet or a folder of Parquet part files; - reads
    CSV or JSONL from standard input) into a labels CSV or Parquet, one row per report, in
    order."""
    from tqdm import tqdm

    from labeler.io import is_parquet
    from toolkit.files import OutputError, is_stdout, same_output

    if part_rows is not None and not is_parquet(output):
        raise click.UsageError("--part-rows needs a Parquet output (-o NAME.parquet)")
    if output.is_dir() and part_rows is None:
        raise click.BadParameter(
            f"File {str(output)!r} is a directory.", param_hint="'-o' / '--output'"
        )
    if evidence is not None and same_output(output, evidence):
        raise BadInput(f"-o and --evidence name the same file ({output}); give two files")
    to_stdout = is_stdout(output) or (evidence is not None and is_stdout(evidence))
    say = functools.partial(click.echo, err=to_stdout)  # keep standard output for the data
    labeler = _labeler(rules)
    source = report_file_or_exit(reports, id_col, text_cols, encoding, sheet)
    rows = source.reports
    shown = "<stdin>" if str(reports) == "-" else reports
    sheet_of = f", sheet {source.sheet!r}" if source.sheet else ""
    say(f"read {len(rows)} reports from {shown} as {source.encoding or 'XLSX'}{sheet_of}")
    for warning in source.warnings:
        click.echo(f"warning: {warning}", err=True)
    started = time.perf_counter()
    to_row = functools.partial(
        render,
        uncertain=UncertainPolicy(uncertain),
        not_mentioned=NotMentionedPolicy(not_mentioned),
        evidence=evidence is not None,
    )
    rendered = labeler.label_many(rows, workers=workers, render=to_row)
    rendered = tqdm(rendered, total=len(rows), unit="report", disable=None, file=sys.stderr)
    counts = [0] * len(labeler.regions)
    errors = unmentioned = 0
    try:
        written = write_outputs(
            rendered, output, labeler.regions, evidence, bom=excel, part_rows=part_rows
        )
        for item in written:
            errors += item.error
            unmentioned += item.no_region_mentioned
            counts = [c + p for c, p in zip(counts, item.positives, strict=True)]
    except OutputError as exc:
        raise BadInput(str(exc)) from exc
    by_region = dict(zip(labeler.regions, counts, strict=True))
    elapsed = time.perf_counter() - started
    say(
        f"{len(rows)} reports → {output} in {elapsed:.1f} s "
        f"({len(rows) / max(elapsed, 1e-9):,.0f} reports/s, pack {labeler.pack.name} "
        f"{labeler.pack.version})"
    )
    say("abnormal per region: " + ", ".join(f"{r} {n}" for r, n in by_region.items()))
    if unmentioned:
        say(f"{unmentioned} reports mention no region (no_region_mentioned=1)")
    if errors:
        click.echo(f"{errors} rows could not be labelled: see the error column", err=True)
    if strict and (errors or source.warnings):
        click.echo("--strict: failing because of the rows above", err=True)
        raise SystemExit(1)


@main.command()
@click.argument("text")
@rules_option
def explain(text, rules):
    """Show how TEXT is labelled: clauses, tokens, cue hits, assertions and the vector."""
    labeler = _labeler(rules)
    analysis = labeler.analyse(text)
    norm = analysis.normalized
    if norm.text != text:
        click.echo(f"normalised: {norm.text}")
    for clause, hits in zip(analysis.clauses, analysis.hits, strict=True):
        start, end = norm.source_span(clause.start, clause.end)
        click.echo(f"\n[{clause.section} s{clause.sentence}] {clause.text}  ({start}-{end})")
        tokens = labeler.tokenizer.tokens(clause.text)
        click.echo("  tokens: " + " / ".join(t for t, _, _ in tokens))
        for h in hits:
            s, e = norm.source_span(h.start, h.end)
            click.echo(f"  {h.kind.value:<11} {h.rule_id:<30} {h.text}  ({s}-{e})")
    click.echo("\nassertions:")
    for a in analysis.assertions:
        mods = ", ".join(m.rule_id for m in a.modifiers) or "-"
        click.echo(
            f"  {a.hit.text:<8} → {','.join(a.regions):<28} {a.state.value:<9} "
            f"via {a.region_from.value:<8} modifiers: {mods}"
        )
    click.echo("\nregions:")
    for d in analysis.decisions:
        click.echo(
            f"  {d.region:<10} {d.state.value:<13} {label_value(d.state)}  "
            + "; ".join(f"{e.rule_id}:{e.text}" for e in d.evidence)
        )
    vector = [label_value(d.state) for d in analysis.decisions]
    click.echo(f"\nvector [{', '.join(labeler.regions)}] = {vector}")


# Commands kept in modules of their own: rule-pack tools, the corpus audit and the pack diff.
from cli.audit import audit, diff  # noqa: E402 - registered once main exists
from cli.rules import rules  # noqa: E402

main.add_command(rules)
main.add_command(audit)
main.add_command(diff)

# The review loop (issue 16): labels against gold with intervals, a sample to read in the
# browser, two reviewers compared.
from cli.evaluate import evaluate  # noqa: E402
from cli.review import agree, review  # noqa: E402

main.add_command(evaluate)
main.add_command(review)
main.add_command(agree)

"""Options shared by the cxrlabel commands, declared once."""

from __future__ import annotations

import click

from labeler.resolve import NotMentionedPolicy, UncertainPolicy

rules_option = click.option(
    "--rules",
    "rules",
    default="base",
    show_default=True,
    metavar="PACK",
    help="Rule pack: a shipped name (base, example_hospital) or a path to a pack YAML/folder.",
)
uncertain_option = click.option(
    "--uncertain",
    type=click.Choice([p.value for p in UncertainPolicy]),
    default=UncertainPolicy.POSITIVE.value,
    show_default=True,
    help="Label for uncertain regions: positive=1, negative=0, keep=-1.",
)
not_mentioned_option = click.option(
    "--not-mentioned",
    type=click.Choice([p.value for p in NotMentionedPolicy]),
    default=NotMentionedPolicy.ZERO.value,
    show_default=True,
    help="Label for regions the report does not mention: 0, or keep (blank).",
)
workers_option = click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes.",
)
id_col_option = click.option("--id-col", default=None, help="Report id column (default: guessed).")
text_col_option = click.option(
    "--text-col",
    "text_cols",
    multiple=True,
    help="Report text column; repeat to join findings and impression columns.",
)
encoding_option = click.option(
    "--encoding",
    default=None,
    help="CSV/TSV/JSONL encoding (default: UTF-8, else detected among GB18030, Big5, UTF-16).",
)
sheet_option = click.option(
    "--sheet",
    default=None,
    help="XLSX sheet to read (required when more than one sheet holds data).",
)
strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when any report became an error row (or, for extract, when ids are blank or "
    "repeated).",
)


excel_option = click.option(
    "--excel",
    is_flag=True,
    help="Start the CSV files meant for people with a UTF-8 byte-order mark, so Excel on Chinese "
    "Windows shows them right (pandas reads both forms the same).",
)


class BadInput(click.ClickException):
    """An input or output that cannot be used: one line `Error: …` on stderr, exit 2."""

    exit_code = 2


def report_file_or_exit(path, id_col, text_cols, encoding, sheet):
    """`read_report_file`, with a file that cannot be used as a one-line exit 2."""
    from labeler.io import ReportFileError, read_report_file

    try:
        return read_report_file(path, id_col, text_cols, encoding, sheet)
    except ReportFileError as exc:
        raise BadInput(str(exc)) from exc


def reports_or_exit(path, id_col, text_cols, encoding, sheet=None):
    """The reports of a file, its warnings (blank or repeated ids) said on stderr."""
    source = report_file_or_exit(path, id_col, text_cols, encoding, sheet)
    for warning in source.warnings:
        click.echo(f"warning: {warning}", err=True)
    return source.reports

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
    "--encoding", default=None, help="CSV/TSV encoding (default: UTF-8, then GB18030/GBK)."
)

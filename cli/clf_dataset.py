"""`cxrclf dataset build`: a thin click layer over classifier.data.build."""

from __future__ import annotations

import os
from pathlib import Path

import click

from classifier.data.build import BuildConfig, build
from classifier.data.link import KEYS, InputError
from classifier.data.split import parse_fractions
from cli.options import excel_option


def _fractions(
    ctx: click.Context, param: click.Parameter, value: str
) -> tuple[float, float, float]:
    try:
        return parse_fractions(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


@click.group("dataset")
def dataset() -> None:
    """Build image datasets from DICOM (or PNG/JPEG) films and cxrlabel labels."""


@dataset.command("build")
@click.option(
    "--images",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of films (searched recursively): DICOM, PNG or JPEG.",
)
@click.option(
    "--labels",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="labels.csv written by `cxrlabel extract`.",
)
@click.option(
    "--link",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV linking films to reports: image,report_id[,patient_id] or study_key,report_id.",
)
@click.option(
    "--key",
    type=click.Choice(list(KEYS)),
    default="accession",
    show_default=True,
    help="DICOM header value that is (or, with a study_key link CSV, maps to) the report id.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Dataset folder to create or resume.",
)
@click.option(
    "--size",
    default=256,
    show_default=True,
    type=click.IntRange(min=8),
    help="Side of the square training images.",
)
@click.option(
    "--bit-depth",
    type=click.Choice(["8", "16"]),
    default="8",
    show_default=True,
    help="Depth of the training PNGs.",
)
@click.option("--keep-full", is_flag=True, help="Also write full-resolution 16-bit PNGs.")
@click.option(
    "--split",
    default="0.8,0.1,0.1",
    show_default=True,
    callback=_fractions,
    help="train,val,test fractions of patients.",
)
@click.option(
    "--balance-target",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of training examples each abnormal region is replicated up to (0: off).",
)
@click.option(
    "--offline-augment",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Augmented copies written per training example (0: augment online while training).",
)
@click.option(
    "--workers",
    default=os.cpu_count() or 1,
    show_default="all cores",
    type=click.IntRange(min=1),
    help="Worker processes.",
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--strict", is_flag=True, help="Exit 1 when any film failed (errors.csv).")
@excel_option
@click.pass_context
def build_command(
    ctx: click.Context,
    images: Path,
    labels: Path,
    link: Path | None,
    key: str,
    output: Path,
    size: int,
    bit_depth: str,
    keep_full: bool,
    split: tuple[float, float, float],
    balance_target: float,
    offline_augment: int,
    workers: int,
    seed: int,
    strict: bool,
    excel: bool,
) -> None:
    """Convert, link, split by patient, balance and augment; write OUTPUT/manifest.csv.

    Exit status 0 when done (films that failed are listed in errors.csv; with --strict any makes
    it 1), 2 for unusable input (nothing linked, a split left without patients, a bad labels
    file) or a usage error.
    """
    config = BuildConfig(
        images=images,
        labels=labels,
        out=output,
        link=link,
        key=key,
        size=size,
        bit_depth=int(bit_depth),
        keep_full=keep_full,
        split=split,
        balance_target=balance_target,
        offline_augment=offline_augment,
        workers=workers,
        seed=seed,
        excel=excel,
    )
    try:
        result = build(config)
    except InputError as err:
        raise click.UsageError(str(err), ctx=ctx) from err
    examples = {n: sum(1 for r in result.rows if r.split == n) for n in ("train", "val", "test")}
    click.echo(
        f"{len(result.linking.films)} films linked to reports: {result.converted} converted, "
        f"{result.skipped} already done"
    )
    click.echo(
        f"{len(result.linking.images_without_report)} images without a report, "
        f"{len(result.linking.reports_without_image)} reports without an image (unlinked.csv)"
    )
    click.echo("examples: " + ", ".join(f"{n} {c}" for n, c in examples.items()))
    if result.short:
        click.echo(f"under the balance target: {', '.join(result.short)} (see stats.md)")
    click.echo(f"wrote {output / 'manifest.csv'}")
    if result.errors:
        click.echo(f"{len(result.errors)} files failed: see {output / 'errors.csv'}", err=True)
        if strict:
            ctx.exit(1)

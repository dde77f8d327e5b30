"""`cxrclf evaluate`, `predict`, `grid` and `compare`: thin wrappers over classifier.*."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from classifier.evaluation.compare import CompareError, compare_frame
from classifier.evaluation.compare import render_markdown as render_compare
from classifier.evaluation.evaluate import EvalConfig, calibration_file, evaluate, locate
from classifier.evaluation.grid import DONE, CellResult, GridSpec, plan, run_grid, summarise
from classifier.evaluation.grid import render_markdown as render_grid
from classifier.evaluation.metrics import ThresholdRule
from classifier.evaluation.report import summary_lines
from classifier.files import write_text_atomic
from classifier.inference.export import ExportError, Format
from classifier.inference.predict import PredictError, predict
from classifier.models.checkpoint import CheckpointError
from classifier.models.registry import arch_names
from classifier.models.statedict import KeyMismatchError
from classifier.run import calibration_path
from classifier.training.config import PRETRAIN, ConfigError, load_yaml, resolve
from classifier.training.datasets import DataError
from classifier.training.runtime import DeviceError
from cli.clf_train import DIR, FILE, InputError
from cli.options import excel_option
from toolkit.files import same_output

_INPUT_ERRORS = (
    CheckpointError,
    DataError,
    DeviceError,
    ExportError,
    KeyMismatchError,
    PredictError,
)


def _rule(_ctx: click.Context, _param: click.Parameter, value: str) -> ThresholdRule:
    try:
        return ThresholdRule.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("evaluate")
@click.argument("run_or_checkpoint", type=click.Path(path_type=Path, exists=True))
@click.option("--data", type=FILE, help="Manifest (default: the one the run trained on).")
@click.option(
    "--split",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
)
@click.option("-o", "--out", "out_dir", type=DIR, help="Output folder (default: eval-SPLIT/).")
@click.option(
    "--threshold",
    "rule",
    default="youden",
    show_default=True,
    callback=_rule,
    help="Chosen on validation: youden, sensitivity:X or specificity:X.",
)
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap samples.")
@click.option("--level", default=0.95, show_default=True, help="Confidence level of the CIs.")
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--workers", default=0, show_default=True, help="DataLoader worker processes.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate_command(
    run_or_checkpoint: Path,
    data: Path | None,
    split: str,
    out_dir: Path | None,
    rule: ThresholdRule,
    bootstrap: int,
    level: float,
    device: str,
    batch_size: int,
    workers: int,
    quiet: bool,
) -> None:
    """Per-region AUC with patient-level bootstrap CIs, operating points, ROC and calibration.

    RUN_OR_CHECKPOINT is a run folder (its best.pt) or a checkpoint file.
    """
    if not 0 < level < 1:
        raise click.BadParameter("must be between 0 and 1", param_hint="--level")
    try:
        config = EvalConfig(
            data=data,
            split=split,
            out_dir=out_dir,
            rule=rule,
            replicates=bootstrap,
            level=level,
            device=device,
            batch_size=batch_size,
            workers=workers,
            progress=not quiet,
        )
        result, folder = evaluate(run_or_checkpoint, config)
        ckpt, manifest = locate(run_or_checkpoint, data)
    except _INPUT_ERRORS as exc:
        raise InputError(str(exc)) from exc
    written = calibration_file(ckpt, manifest, folder)
    head, *undefined_regions = summary_lines(result)
    click.echo(f"{head}; report in {folder}; calibration {written}")
    for line in undefined_regions:
        click.echo(line)
    if written != calibration_path(ckpt):
        click.echo(
            f"{manifest} is not the data {ckpt} was trained on: its calibration "
            f"{calibration_path(ckpt)} is left as it was",
            err=True,
        )


@click.command("predict")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--checkpoint",
    type=FILE,
    required=True,
    help="A region checkpoint (best.pt) or its export (.safetensors, .onnx).",
)
@click.option("-o", "--out", type=FILE, required=True, help="Predictions CSV.")
@click.option(
    "--confidence",
    type=float,
    help="Label-tree confidence T in (0.5, 1]: report a region only when P(region|s) ≥ T.",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--workers", default=0, show_default=True, help="Reader processes.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@excel_option
def predict_command(
    paths: tuple[Path, ...],
    checkpoint: Path,
    out: Path,
    confidence: float | None,
    device: str,
    batch_size: int,
    workers: int,
    quiet: bool,
    excel: bool,
) -> None:
    """Region probabilities and decisions for PNG/JPEG/DICOM files or folders of them."""
    for given in (checkpoint, *paths):
        if same_output(out, given):
            raise click.BadParameter(f"{out} is also an input ({given})", param_hint="-o")
    try:
        result = predict(checkpoint, paths, confidence, device, batch_size, workers, not quiet)
    except (*_INPUT_ERRORS, ValueError) as exc:
        raise InputError(str(exc)) from exc
    write_text_atomic(out, result.table.to_csv(index=False), bom=excel)
    for path, reason in result.failed:
        click.echo(f"{path}: skipped: {reason}", err=True)
    calibration, thresholds = result.calibration, result.thresholds
    if calibration is None:
        why = (
            "was exported without a calibration (its checkpoint had not been evaluated)"
            if Format.of(checkpoint)
            else f"was never evaluated (no {calibration_path(checkpoint).name})"
        )
        click.echo(
            f"note: {checkpoint} {why}: decisions use threshold 0.5; run `cxrclf evaluate` "
            "to fit them on validation",
            err=True,
        )
    else:
        for region, source in thresholds.sources.items():
            click.echo(f"threshold {region}: {thresholds.values[region]:.4f} ({source})", err=True)
    failed = len(result.failed)
    click.echo(f"{len(result.table) - failed} films predicted, {failed} unreadable; {out}")


def _names(choices: tuple[str, ...]) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    def parse(_ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
        names = [v.strip() for v in value.split(",") if v.strip()]
        bad = [n for n in names if n not in choices]
        if bad or not names:
            given = ", ".join(bad) or repr(value)
            raise click.BadParameter(f"{given}: choose from {', '.join(choices)}")
        return list(dict.fromkeys(names))

    return parse


def _seeds(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        return list(dict.fromkeys(int(v) for v in value.split(",")))
    except ValueError:
        raise click.BadParameter(f"{value!r}: comma-separated integers") from None


@click.command("grid")
@click.option(
    "--archs",
    default="alexnet,vgg16,resnet34,densenet121",
    show_default=True,
    callback=_names(arch_names()),
)
@click.option(
    "--pretrain",
    "regimes",
    default=",".join(PRETRAIN),
    show_default=True,
    callback=_names(PRETRAIN),
)
@click.option("--seeds", default="0", show_default=True, callback=_seeds)
@click.option("--data", type=FILE, required=True, help="Manifest from `cxrclf dataset build`.")
@click.option("--config", "config_file", type=FILE, help="YAML settings shared by every cell.")
@click.option("-o", "--out", "out_dir", type=DIR, required=True, help="Grid folder.")
@click.option(
    "--init-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="ChestX-14 checkpoints: <arch>.pt or <arch>/best.pt.",
)
@click.option(
    "--nih-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="Pretrain missing ChestX-14 checkpoints on this.",
)
@click.option("--epochs", type=int, help="Override the config's epochs in every cell.")
@click.option("--device", help="Override the config's device.")
@click.option(
    "--keep-last/--no-keep-last",
    default=None,
    help="Override the config's keep_last: --no-keep-last leaves each finished cell best.pt "
    "and a last.pt of a few kB.",
)
@click.option("--bootstrap", default=1000, show_default=True, help="Bootstrap samples per cell.")
@click.option("--paper", is_flag=True, help="Show the paper's Table 2 figures beside ours.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def grid_command(
    archs: list[str],
    regimes: list[str],
    seeds: list[int],
    data: Path,
    config_file: Path | None,
    out_dir: Path,
    init_dir: Path | None,
    nih_dir: Path | None,
    epochs: int | None,
    device: str | None,
    keep_last: bool | None,
    bootstrap: int,
    paper: bool,
    quiet: bool,
) -> None:
    """Networks × pretraining regimes (× seeds) on one manifest: the paper's Table 2.

    Every cell is trained (or resumed) and evaluated on the test split; grid.md and grid.csv
    in OUT hold the table. A cell that cannot run here is reported, and the grid goes on.
    """
    try:
        settings = load_yaml(config_file) if config_file is not None else {}
        given = (("epochs", epochs), ("device", device), ("keep_last", keep_last))
        settings |= {k: v for k, v in given if v is not None}
        resolve(None, **settings)  # a bad setting fails here, not in every cell
        spec = GridSpec(data, out_dir, settings, init_dir, nih_dir, bootstrap, paper, not quiet)
        cells = plan(archs, regimes, seeds)

        def report(result: CellResult) -> None:
            detail = f"mean AUC {result.mean_auc:.4f}" if result.status == DONE else result.reason
            click.echo(f"{result.cell.name}: {result.status}: {detail}", err=True)

        results = run_grid(spec, cells, report)
    except (ConfigError, DataError) as exc:
        raise InputError(str(exc)) from exc
    done = sum(r.status == DONE for r in results)
    click.echo(render_grid(summarise(results, spec.regions), spec.regions, paper), nl=False)
    click.echo(f"{done} of {len(results)} cells done; tables in {out_dir}/grid.md and grid.csv")


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--split", default="test", show_default=True, help="Which eval-SPLIT/ to read.")
@click.option("-o", "--out", type=FILE, help="Also write the table (.csv, else markdown).")
def compare_command(runs: tuple[Path, ...], split: str, out: Path | None) -> None:
    """One table of evaluated runs: per-region AUC and mean AUC with its CI.

    RUN is a run folder (its eval-SPLIT/metrics.json), an evaluation folder or a metrics.json.
    """
    try:
        frame = compare_frame(runs, split)
    except CompareError as exc:
        raise InputError(str(exc)) from exc
    text = render_compare(frame)
    click.echo(text, nl=False)
    if out is not None:
        write_text_atomic(out, frame.to_csv(index=False) if out.suffix == ".csv" else text)

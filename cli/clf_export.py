"""`cxrclf export`: a checkpoint as a .safetensors or .onnx file for serving elsewhere."""

from __future__ import annotations

from pathlib import Path

import click

from classifier.inference.export import DEFAULT_OPSET, ExportError, Format, export
from classifier.models.checkpoint import CheckpointError
from classifier.models.statedict import KeyMismatchError
from classifier.run import BEST
from cli.clf_train import FILE, InputError
from toolkit.files import same_output


def _format(out: Path, given: str | None) -> Format:
    """--format, else the output's suffix; a suffix that says another format is refused, since
    `cxrclf predict` reads an export by its suffix."""
    said = Format.of(out)
    if given is None:
        if said is None:
            raise click.BadParameter(
                f"{out.name}: name it .safetensors or .onnx, or give --format", param_hint="-o"
            )
        return said
    fmt = Format(given)
    if said is not None and said is not fmt:
        raise click.BadParameter(f"{out.name} is named {said} but --format is {fmt}")
    return fmt


@click.command("export")
@click.argument("run_or_checkpoint", type=click.Path(path_type=Path, exists=True))
@click.option("-o", "--out", type=FILE, required=True, help="model.safetensors or model.onnx.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    help="Default: from the output's suffix.",
)
@click.option(
    "--opset",
    default=DEFAULT_OPSET,
    show_default=True,
    help="ONNX opset (18 or later).",
)
def export_command(run_or_checkpoint: Path, out: Path, fmt: str | None, opset: int) -> None:
    """Write a region or ChestX-14 checkpoint for use outside the toolkit.

    RUN_OR_CHECKPOINT is a run folder (its best.pt) or a checkpoint file. The export carries
    the preprocessing record, the output labels and, when `cxrclf evaluate` has run, the
    fitted thresholds and label tree; `cxrclf predict --checkpoint` reads both formats.
    .safetensors: the bare network's weights under torchvision's key names. .onnx: grey films
    in [0, 1] (batch, 1, crop, crop) in, logits and probabilities out, normalisation inside;
    checked against PyTorch with ONNX Runtime before it is written.
    """
    fmt_ = _format(out, fmt)
    source = run_or_checkpoint / BEST if run_or_checkpoint.is_dir() else run_or_checkpoint
    if same_output(out, source):
        raise click.BadParameter(f"{out} is the model being exported", param_hint="-o")
    try:
        result = export(source, out, fmt_, opset)
    except (CheckpointError, ExportError, KeyMismatchError) as exc:
        raise InputError(str(exc)) from exc
    meta = result.meta
    calibrated = "with its calibration" if result.calibrated else "no calibration (not evaluated)"
    check = (
        f"; ONNX Runtime agrees with PyTorch to {result.difference:.1e} in the logits"
        if result.difference is not None
        else ""
    )
    click.echo(
        f"{source} ({meta.arch}, {len(meta.labels)} outputs, epoch {meta.epoch}, {calibrated}) "
        f"-> {out} ({result.size / 1e6:.1f} MB {fmt_}){check}"
    )

"""`cxrclf heatmap`: Grad-CAM / CAM overlays of a region classifier, a thin wrapper over
classifier.inference.heatmap."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from classifier.data.convert import unexpected_reason
from classifier.data.dicomio import FilmError
from classifier.inference.export import ExportError
from classifier.inference.heatmap import (
    METHODS,
    OVERLAY_SIDE,
    HeatmapError,
    network_view,
    region_heatmaps,
    write_overlays,
)
from classifier.inference.scoring import Classifier, load_classifier
from classifier.models.checkpoint import CheckpointError
from classifier.models.statedict import KeyMismatchError
from classifier.training.runtime import DeviceError
from cli.clf_train import DIR, FILE, InputError

ALL = "all"


def _duplicate_stems(images: tuple[Path, ...]) -> list[str]:
    stems = [image.stem for image in images]
    return sorted({stem for stem in stems if stems.count(stem) > 1})


def _film(clf: Classifier, image: Path) -> tuple[torch.Tensor | None, str]:
    """The film the network sees, or None and why it cannot be read (as `predict` says it)."""
    if not image.is_file():
        return None, "no such file" if not image.exists() else "not a regular file"
    try:
        return network_view(clf, image), ""
    except FilmError as exc:
        return None, exc.reason
    except Exception as exc:  # a reader bug must not end the batch; it is reported
        return None, unexpected_reason(exc)


@click.command("heatmap")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=FILE,
    required=True,
    help="Region checkpoint: best.pt, last.pt or exported.",
)
@click.option(
    "--region",
    default=ALL,
    show_default=True,
    help="Region to explain, one the checkpoint names; all = every region output.",
)
@click.option("--method", type=click.Choice(METHODS), default="gradcam", show_default=True)
@click.option("-o", "--out", "out_dir", type=DIR, required=True, help="Folder for the PNGs.")
@click.option("--size", type=click.IntRange(min=16), default=OVERLAY_SIDE, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def heatmap_command(
    images: tuple[Path, ...],
    checkpoint_path: Path,
    region: str,
    method: str,
    out_dir: Path,
    size: int,
    device: str,
) -> None:
    """Overlay Grad-CAM or CAM heatmaps on IMAGES (DICOM, PNG, JPEG), one PNG per region,
    named <image stem>_<region>_<method>.png."""
    clashes = _duplicate_stems(images)
    if clashes:
        raise InputError(f"several images named {', '.join(clashes)}: their outputs would clash")
    try:
        clf = load_classifier(checkpoint_path, device)
    except (CheckpointError, DeviceError, ExportError, KeyMismatchError) as exc:
        raise InputError(str(exc)) from exc
    regions = clf.regions if region == ALL else (region,)
    unknown = [r for r in regions if r not in clf.regions]
    if unknown:  # the checkpoint's own labels are the only region names there are
        raise InputError(
            f"{checkpoint_path} has no region {', '.join(unknown)}; "
            f"its regions: {', '.join(clf.regions)}"
        )
    skipped = 0
    for image in images:
        film, reason = _film(clf, image)
        if film is None:  # one line, and the batch goes on, as in `predict`
            click.echo(f"{image}: skipped: {reason}", err=True)
            skipped += 1
            continue
        try:
            heatmaps = region_heatmaps(clf, film, regions, method)
        except HeatmapError as exc:
            raise InputError(str(exc)) from exc
        paths = write_overlays(film, heatmaps, image.stem, out_dir, size)
        for heatmap, path in zip(heatmaps, paths, strict=True):
            click.echo(f"{path}  p({heatmap.region})={heatmap.probability:.3f}")
    if skipped:
        click.echo(f"{len(images) - skipped} films drawn, {skipped} unreadable", err=True)

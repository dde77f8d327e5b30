"""`cxrclf heatmap`: Grad-CAM / CAM overlays of a region classifier, a thin wrapper over
classifier.heatmap."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from classifier.checkpoint import CheckpointError
from classifier.dicomio import FilmError
from classifier.heatmap import (
    METHODS,
    OVERLAY_SIDE,
    HeatmapError,
    network_view,
    region_heatmaps,
    write_overlays,
)
from classifier.inference import Classifier, load_classifier
from classifier.statedict import KeyMismatchError
from cli.clf_train import DIR, FILE, InputError
from labeler.packs import region_ids

ALL = "all"


def _duplicate_stems(images: tuple[Path, ...]) -> list[str]:
    stems = [image.stem for image in images]
    return sorted({stem for stem in stems if stems.count(stem) > 1})


def _film(clf: Classifier, image: Path) -> torch.Tensor:
    try:
        return network_view(clf, image)
    except FilmError as exc:
        raise InputError(f"{image}: {exc.reason}") from exc


@click.command("heatmap")
@click.argument(
    "images", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False)
)
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=FILE,
    required=True,
    help="Region checkpoint: best.pt, last.pt or exported.",
)
@click.option(
    "--region",
    type=click.Choice((ALL, *region_ids())),
    default=ALL,
    show_default=True,
    help="Region to explain; all = every region output of the checkpoint.",
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
    except (CheckpointError, KeyMismatchError) as exc:
        raise InputError(str(exc)) from exc
    regions = clf.regions if region == ALL else (region,)
    films = {image: _film(clf, image) for image in images}  # all read before anything is written
    for image, film in films.items():
        try:
            heatmaps = region_heatmaps(clf, film, regions, method)
        except HeatmapError as exc:
            raise InputError(str(exc)) from exc
        paths = write_overlays(film, heatmaps, image.stem, out_dir, size)
        for heatmap, path in zip(heatmaps, paths, strict=True):
            click.echo(f"{path}  p({heatmap.region})={heatmap.probability:.3f}")

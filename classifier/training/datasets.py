"""Labelled film sets for training: manifest reading, PNG decoding, crops, batch normalisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from classifier.data import manifest
from classifier.data.manifest import manifest_format
from classifier.data.transforms import AugmentSpec, sample_params, warp_crops
from classifier.run import FilmFormat, RecordError, Task

NORMAL = "normal"  # the optional auxiliary output of paper 002: "is this film normal?"


class DataError(ValueError):
    """A manifest or image folder that cannot be trained on."""


@dataclass(frozen=True)
class LabelledImages:
    paths: tuple[Path, ...]
    labels: np.ndarray  # (films, outputs) of 0/1 float32
    patients: tuple[str, ...] = ()  # one per film where known; resampling unit for evaluation

    def __len__(self) -> int:
        return len(self.paths)


@dataclass(frozen=True)
class TaskData:
    task: Task  # stored in checkpoint meta
    labels: tuple[str, ...]  # one per output unit
    scored: tuple[str, ...]  # the labels whose mean AUC selects the best epoch
    train: LabelledImages
    val: LabelledImages
    film: FilmFormat  # how the films were made (the manifest's record), copied into checkpoints


def read_manifest(path: Path, aux_normal: bool = False) -> TaskData:
    """Train and val films of a dataset-builder manifest; labels in the manifest's region order
    (its record, manifest.json), then "normal" with `aux_normal`."""
    film = _format(Path(path))
    names = (*film.regions, NORMAL) if aux_normal else film.regions
    part = _splitter(Path(path), names, film)
    return TaskData(Task.REGIONS, names, film.regions, part("train"), part("val"), film)


def read_split(path: Path, split: str, labels: Sequence[str] | None = None) -> LabelledImages:
    """One split's films (with their patients) of a dataset-builder manifest, with the label
    columns `labels` (default: the manifest's regions; "normal" is derived from them)."""
    film = _format(Path(path))
    return _splitter(Path(path), tuple(labels or film.regions), film)(split)


def _format(path: Path) -> FilmFormat:
    if not path.is_file():
        raise DataError(f"{path}: no such manifest")
    try:
        return manifest_format(path)
    except (RecordError, ValueError) as exc:
        raise DataError(str(exc)) from exc


def _splitter(
    path: Path, names: tuple[str, ...], film: FilmFormat
) -> Callable[[str], LabelledImages]:
    regions = film.regions
    unknown = [n for n in names if n not in (*regions, NORMAL)]
    if unknown:
        raise DataError(f"{path}: no label columns {unknown}; its regions: {list(regions)}")
    try:
        rows = manifest.read_manifest(path, regions)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from exc
    labels = np.array([row.labels for row in rows], dtype=np.float32).reshape(-1, len(regions))
    if not np.isin(labels, (0, 1)).all():
        raise DataError(
            f"{path}: region labels must be 0 or 1 for training (uncertain kept as -1?)"
        )
    normal = labels.sum(1, keepdims=True) == 0
    columns = [normal if n == NORMAL else labels[:, [regions.index(n)]] for n in names]
    labels = np.concatenate(columns, axis=1).astype(np.float32).reshape(-1, len(names))
    splits = np.array([row.split for row in rows])

    def part(split: str) -> LabelledImages:
        chosen = np.flatnonzero(splits == split)
        if not len(chosen):
            raise DataError(f"{path}: no films with split == {split!r}")
        return LabelledImages(
            tuple(path.parent / rows[i].image for i in chosen),
            labels[chosen],
            tuple(rows[i].patient_id for i in chosen),
        )

    return part


def refuse_missing(path: Path, images: LabelledImages) -> None:
    """Films of a manifest that are missing are named before training starts, not met as a
    DataLoader traceback."""
    missing = [f for f in images.paths if not f.is_file()]
    if missing:
        shown = ", ".join(str(f) for f in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(f"{path}: {len(missing)} films missing: {shown}{more}")


def grey_tensor(values: np.ndarray, size: int) -> torch.Tensor:
    """(1, size, size) float32 from grey values already scaled to [0, 1]: the one resize that
    every film goes through, in training (PNG) and prediction (film files) alike."""
    tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None]
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(
            tensor[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )[0]
    return tensor


def load_grey(path: Path, size: int) -> torch.Tensor:
    """A film as a (1, size, size) float tensor in [0, 1], whatever its bit depth."""
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I"):
            array = np.asarray(image, dtype=np.float32) / 65535.0
        else:
            array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    return grey_tensor(array, size)


class FilmDataset(Dataset):
    """Films resized to `resize`, then cropped to `crop`: random when training, centred otherwise.

    With `augment`, training films are first rotated and rescaled by the same warp as offline
    augmentation (classifier.data.transforms.warp_crops). Every random draw comes from (seed,
    epoch, index) rather than a global generator, so it does not depend on the worker count, and
    a resumed run sees the same films as an uninterrupted one.
    """

    def __init__(
        self,
        images: LabelledImages,
        resize: int,
        crop: int,
        train: bool,
        seed: int = 0,
        augment: AugmentSpec | None = None,
    ) -> None:
        if crop > resize:
            raise DataError(f"crop {crop} is larger than the resized film {resize}")
        self.images = images
        self.resize = resize
        self.crop = crop
        self.train = train
        self.seed = seed
        self.augment = augment
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            film = load_grey(self.images.paths[index], self.resize)
        except (OSError, SyntaxError, ValueError) as exc:  # PIL's errors for a broken file
            raise DataError(f"{self.images.paths[index]}: film cannot be read: {exc}") from exc
        room = self.resize - self.crop
        params, top, left = None, room // 2, room // 2
        if self.train:
            params, top, left = draw(self.seed, self.epoch, index, self.augment, room)
        if params is None:
            film = film[:, top : top + self.crop, left : left + self.crop]
        else:
            corner = torch.tensor([top]), torch.tensor([left])
            film = warp_crops(film[None], params, *corner, self.crop)[0]
        return film, torch.from_numpy(self.images.labels[index])


def draw(
    seed: int, epoch: int, index: int, augment: AugmentSpec | None, room: int
) -> tuple[torch.Tensor | None, int, int]:
    """One training film's augmentation row (None without `augment`) and crop corner (top,
    left) within `room` pixels, from (seed, epoch, film index) alone; every path draws here."""
    # Hashes of int tuples do not vary between processes (unlike those of str).
    gen = torch.Generator().manual_seed(hash((seed, epoch, index)) & 0x7FFFFFFF)
    params = sample_params(augment, 1, gen) if augment is not None else None
    top, left = torch.randint(0, room + 1, (2,), generator=gen).tolist()
    return params, top, left


def prepare_batch(
    films: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Grey (B, 1, H, W) in [0, 1] → 3-channel input normalised as the network expects."""
    m = torch.tensor(mean, device=films.device, dtype=films.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, device=films.device, dtype=films.dtype).view(1, -1, 1, 1)
    return (films.expand(-1, len(mean), -1, -1) - m) / s

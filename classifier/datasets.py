"""Labelled film sets for training: manifest reading, PNG decoding, crops, batch normalisation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from classifier import manifest
from classifier.transforms import AugmentSpec, sample_params, warp_crops
from labeler.packs import region_ids

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
    task: str  # "regions" or "chestx14"; stored in checkpoint meta
    labels: tuple[str, ...]  # one per output unit
    scored: tuple[str, ...]  # the labels whose mean AUC selects the best epoch
    train: LabelledImages
    val: LabelledImages


def read_manifest(path: Path, aux_normal: bool = False) -> TaskData:
    """Train and val films of a dataset-builder manifest; labels in rule-pack region order."""
    names = _output_names(aux_normal)
    part = _splitter(Path(path), aux_normal)
    return TaskData("regions", names, region_ids(), part("train"), part("val"))


def read_split(path: Path, split: str, aux_normal: bool = False) -> LabelledImages:
    """One split's films (with their patients) of a dataset-builder manifest."""
    return _splitter(Path(path), aux_normal)(split)


def _output_names(aux_normal: bool) -> tuple[str, ...]:
    return (*region_ids(), NORMAL) if aux_normal else region_ids()


def _splitter(path: Path, aux_normal: bool) -> Callable[[str], LabelledImages]:
    if not path.is_file():
        raise DataError(f"{path}: no such manifest")
    regions = region_ids()
    try:
        rows = manifest.read_manifest(path, regions)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from exc
    labels = np.array([row.labels for row in rows], dtype=np.float32).reshape(-1, len(regions))
    if not np.isin(labels, (0, 1)).all():
        raise DataError(
            f"{path}: region labels must be 0 or 1 for training (uncertain kept as -1?)"
        )
    if aux_normal:
        labels = np.concatenate([labels, labels.sum(1, keepdims=True) == 0], axis=1)
    labels = labels.astype(np.float32)
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


def load_grey(path: Path, size: int) -> torch.Tensor:
    """A film as a (1, size, size) float tensor in [0, 1], whatever its bit depth."""
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I"):
            array = np.asarray(image, dtype=np.float32) / 65535.0
        else:
            array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)[None]
    if tensor.shape[-2:] != (size, size):
        tensor = F.interpolate(
            tensor[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )[0]
    return tensor


class FilmDataset(Dataset):
    """Films resized to `resize`, then cropped to `crop`: random when training, centred otherwise.

    Training films are first rotated and rescaled by the dataset builder's ChestAugment warp
    when `augment` is given. Every random draw comes from (seed, epoch, index) rather than a
    global generator, so it does not depend on the worker count, and a resumed run sees the same
    films as an uninterrupted one.
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
        film = load_grey(self.images.paths[index], self.resize)
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
        film = film[:, top : top + self.crop, left : left + self.crop]
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

"""The contract between the stages: the run folder, and the records that travel with the data.

A run folder holds config.yaml (the resolved TrainConfig), history.csv (one row per epoch),
last.pt (everything needed to resume), best.pt (weights and metadata of the best epoch) and,
once evaluated, `<checkpoint stem>.calibration.json` beside the checkpoint and eval-<split>/.
Evaluation, prediction, heatmaps and the grid find files through these names alone, so none
of them imports the training loop.

The records: `FilmFormat` (how `dataset build` made the training images, and the region
names the data carries) is written beside the manifest; `Preprocessing` (FilmFormat plus resize,
crop, mean/std and the output names in head order) goes into every checkpoint, and evaluation,
prediction and heatmaps prepare films from it alone. No torch here: every stage may import this.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

CONFIG = "config.yaml"
HISTORY = "history.csv"
LAST = "last.pt"
BEST = "best.pt"


def calibration_path(checkpoint_path: Path) -> Path:
    """Where `cxrclf evaluate` saves a checkpoint's thresholds and label tree."""
    return Path(checkpoint_path).with_suffix(".calibration.json")


def eval_dir(checkpoint_path: Path, split: str) -> Path:
    """The default report folder of `cxrclf evaluate` on `split`."""
    return Path(checkpoint_path).parent / f"eval-{split}"


# The dataset builder's one display mapping (classifier.data.convert): the DICOM's VOI window or
# LUT when it has one, else a stretch over the film's own range; PNG/JPEG pixels as they are.
WINDOWING = "voi-else-stretch"
FILM_FORMAT = "cxrclf-dataset"
FILM_FORMAT_VERSION = 1
# What version-1 checkpoints (before the preprocessing record) assumed for film files at
# prediction time: `dataset build`'s default side, read at 16 bits.
LEGACY_BUILD_SIZE = 256
LEGACY_BIT_DEPTH = 16
# Image sides (training image, resize, crop) a record read from a file may hold; the builder's
# smallest side is 8, and 4096 is past any film a network is trained on.
SIDE_RANGE = (8, 4096)


class Task(str, Enum):
    """What a network is trained to output: our regions (a manifest) or NIH's 14 labels
    (ChestX-ray14 pretraining). Stored in checkpoints by value."""

    REGIONS = "regions"
    CHESTX14 = "chestx14"

    def __str__(self) -> str:
        return self.value


class RecordError(ValueError):
    """A dataset or preprocessing record that is missing, malformed or does not match."""


@dataclass(frozen=True)
class FilmFormat:
    """How the training images of a dataset were made, and what their labels are.

    `cxrclf dataset build` writes it beside the manifest (manifest.json); training copies it into
    every checkpoint (inside `Preprocessing`); prediction and heatmaps remake a film from any
    DICOM/PNG/JPEG file through it, evaluation refuses a manifest made another way.
    """

    size: int  # side of the square, letterboxed training image
    bit_depth: int  # 8 or 16
    windowing: str  # WINDOWING
    regions: tuple[str, ...]  # label columns of the manifest, in label-vector order

    def __post_init__(self) -> None:
        if self.bit_depth not in (8, 16):
            raise RecordError(f"bit depth must be 8 or 16, got {self.bit_depth}")
        if self.size < 1:
            raise RecordError(f"training image side must be positive, got {self.size}")

    @property
    def top(self) -> int:
        """The pixel value that means white: 255 or 65535."""
        return 2**self.bit_depth - 1

    def describe(self) -> str:
        return f"{self.size}x{self.size} {self.bit_depth}-bit ({self.windowing})"

    def same_images(self, other: FilmFormat) -> bool:
        """True when both make the same training image from a film."""
        return (self.size, self.bit_depth, self.windowing) == (
            other.size,
            other.bit_depth,
            other.windowing,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FILM_FORMAT,
            "version": FILM_FORMAT_VERSION,
            "size": self.size,
            "bit_depth": self.bit_depth,
            "windowing": self.windowing,
            "regions": list(self.regions),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> FilmFormat:
        if not isinstance(data, dict) or data.get("format") != FILM_FORMAT:
            raise RecordError(f"{where}: not a {FILM_FORMAT} record")
        if data.get("version") != FILM_FORMAT_VERSION:
            raise RecordError(f"{where}: record version {data.get('version')!r}, this reads 1")
        try:
            return cls(
                size=int(data["size"]),
                bit_depth=int(data["bit_depth"]),
                windowing=str(data["windowing"]),
                regions=tuple(str(r) for r in data["regions"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"{where}: incomplete dataset record ({exc})") from exc


def film_format_path(manifest: Path) -> Path:
    """manifest.csv (or .parquet) -> manifest.json beside it."""
    return Path(manifest).with_suffix(".json")


def read_record(path: Path, what: str) -> Any:
    """A JSON record file written beside a manifest or a checkpoint, parsed; None when there is
    none. RecordError naming the file (and `what` it should hold) when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RecordError(f"{path}: unreadable {what} ({exc})") from exc


def read_film_format(manifest: Path) -> FilmFormat | None:
    """The record beside a manifest; None for a manifest from before the record existed."""
    path = film_format_path(manifest)
    data = read_record(path, "dataset record")
    if data is None:
        return None
    return FilmFormat.from_dict(data, str(path))


def film_format_json(film: FilmFormat) -> str:
    return json.dumps(film.to_dict(), indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Preprocessing:
    """Everything that turns a film file into the network's input, frozen at training time.

    `film` is how the dataset's training images were made (None only in checkpoints from before
    this record, see LEGACY_BUILD_SIZE); then every film is resized to `resize`, centre-cropped
    to `crop` (random crops in training), scaled to [0, 1], and normalised with `mean`/`std`.
    `labels` name the network's outputs in head order.
    """

    film: FilmFormat | None
    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...]

    @property
    def build_size(self) -> int:
        return self.film.size if self.film is not None else LEGACY_BUILD_SIZE

    @property
    def bit_depth(self) -> int:
        return self.film.bit_depth if self.film is not None else LEGACY_BIT_DEPTH

    @property
    def windowing(self) -> str:
        return self.film.windowing if self.film is not None else WINDOWING

    def to_dict(self) -> dict[str, Any]:
        return {
            "film": self.film.to_dict() if self.film is not None else None,
            "resize": self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Preprocessing:
        if not isinstance(data, dict):
            raise RecordError(f"{where}: no preprocessing record")
        film = data.get("film")
        film = FilmFormat.from_dict(film, where) if film is not None else None
        labels = data.get("labels", [])  # missing: "incomplete" below
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise RecordError(f"{where}: labels must be a list of names, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise RecordError(f"{where}: labels {labels} name an output twice")
        for side in ("resize", "crop"):
            value = data.get(side, 0)
            if isinstance(value, bool) or not isinstance(value, int):
                raise RecordError(
                    f"{where}: {side} must be a whole number of pixels, got {value!r}"
                )
        try:
            record = cls(
                film=film,
                resize=int(data["resize"]),
                crop=int(data["crop"]),
                mean=tuple(float(v) for v in data["mean"]),
                std=tuple(float(v) for v in data["std"]),
                labels=tuple(str(v) for v in data["labels"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError(f"{where}: incomplete preprocessing record ({exc})") from exc
        problem = record.out_of_range()
        if problem:
            raise RecordError(f"{where}: {problem}")
        return record

    def out_of_range(self) -> str:
        """Why a record read from a file cannot be used ("" when it can): sides outside
        SIDE_RANGE (a 60000 px resize would exhaust memory, 0 cannot be drawn), a crop larger
        than the resize, a std that is not positive, channel counts that disagree, no labels."""
        low, high = SIDE_RANGE
        sides = {"resize": self.resize, "crop (input_size)": self.crop}
        if self.film is not None:
            sides["training image side"] = self.film.size
        for name, side in sides.items():
            if not low <= side <= high:
                return f"{name} {side} is outside {low}..{high}"
        if self.crop > self.resize:
            return f"crop (input_size) {self.crop} exceeds resize {self.resize}"
        stats = (*self.mean, *self.std)
        if not self.mean or len(self.mean) != len(self.std) or not all(map(math.isfinite, stats)):
            return f"mean {list(self.mean)} and std {list(self.std)} do not fit together"
        if min(self.std) <= 0:
            return f"std {list(self.std)} must be positive"
        if not self.labels:
            return "no output labels"
        return ""

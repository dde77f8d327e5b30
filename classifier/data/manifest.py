"""The dataset manifest: one row per training example, the contract between `cxrclf dataset` and
training. Columns (docs/dataset.md is the reference):

image, patient_id, study_key, report_id, split, <region>... , <region>_state..., source_file,
source_image, replica, augment

Region columns are those of labels.csv, in label-vector order. Beside manifest.csv,
manifest.json holds the dataset's FilmFormat (classifier.run): training image side, bit depth,
windowing and the region names; a manifest from before that record gets one inferred from its
header and first image (`manifest_format`).
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from classifier.files import write_atomic, write_text_atomic
from classifier.run import (
    WINDOWING,
    FilmFormat,
    RecordError,
    film_format_json,
    film_format_path,
    read_film_format,
)

SPLITS = ("train", "val", "test")
MANIFEST_CSV = "manifest.csv"
MANIFEST_PARQUET = "manifest.parquet"


@dataclass(frozen=True)
class ManifestRow:
    """One example. `image` and `source_image` are relative to the dataset folder; `source_file`
    to the image folder the dataset was built from. `replica` counts balancing copies (0 for the
    film itself); `augment` holds offline augmentation parameters as JSON, empty otherwise."""

    image: str
    patient_id: str
    study_key: str
    report_id: str
    split: str
    labels: tuple[int, ...]
    states: tuple[str, ...]
    source_file: str
    source_image: str
    replica: int = 0
    augment: str = ""


def columns(regions: Sequence[str]) -> list[str]:
    return [
        "image",
        "patient_id",
        "study_key",
        "report_id",
        "split",
        *regions,
        *(f"{region}_state" for region in regions),
        "source_file",
        "source_image",
        "replica",
        "augment",
    ]


def to_frame(rows: Iterable[ManifestRow], regions: Sequence[str]) -> pd.DataFrame:
    records = [
        {
            "image": row.image,
            "patient_id": row.patient_id,
            "study_key": row.study_key,
            "report_id": row.report_id,
            "split": row.split,
            **dict(zip(regions, row.labels, strict=True)),
            **{f"{r}_state": s for r, s in zip(regions, row.states, strict=True)},
            "source_file": row.source_file,
            "source_image": row.source_image,
            "replica": row.replica,
            "augment": row.augment,
        }
        for row in rows
    ]
    frame = pd.DataFrame.from_records(records, columns=columns(regions))
    return frame.astype({region: "int64" for region in regions} | {"replica": "int64"})


def from_frame(frame: pd.DataFrame, regions: Sequence[str]) -> list[ManifestRow]:
    missing = [c for c in columns(regions) if c not in frame.columns]
    if missing:
        raise ValueError(f"manifest lacks columns {missing}")
    bad = sorted(set(frame["split"]) - set(SPLITS))
    if bad:
        raise ValueError(f"manifest has unknown splits {bad}")
    return [
        ManifestRow(
            image=str(rec["image"]),
            patient_id=str(rec["patient_id"]),
            study_key=str(rec["study_key"]),
            report_id=str(rec["report_id"]),
            split=str(rec["split"]),
            labels=tuple(int(rec[r]) for r in regions),
            states=tuple(str(rec[f"{r}_state"]) for r in regions),
            source_file=str(rec["source_file"]),
            source_image=str(rec["source_image"]),
            replica=int(rec["replica"]),
            augment=str(rec["augment"]),
        )
        for rec in frame.to_dict("records")
    ]


def write_manifest(rows: Iterable[ManifestRow], out_dir: Path, film: FilmFormat) -> None:
    """manifest.csv (UTF-8) with its record manifest.json, and manifest.parquet too when pyarrow
    is importable."""
    frame = to_frame(rows, film.regions)
    write_text_atomic(film_format_path(out_dir / MANIFEST_CSV), film_format_json(film))
    write_text_atomic(out_dir / MANIFEST_CSV, frame.to_csv(index=False))
    if importlib.util.find_spec("pyarrow") is not None:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_atomic(out_dir / MANIFEST_PARQUET, buffer.getvalue())


def read_manifest(path: Path, regions: Sequence[str]) -> list[ManifestRow]:
    """Rows from manifest.csv or manifest.parquet; every column but the labels and `replica` is
    text (ids such as 00123 keep their zeros)."""
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        text_columns = {c: str for c in columns(regions) if c not in (*regions, "replica")}
        frame = pd.read_csv(path, dtype=text_columns, keep_default_na=False, encoding="utf-8")
    return from_frame(frame, regions)


def header_regions(columns: Sequence[str]) -> tuple[str, ...]:
    """Label names from a header: one per `<name>_state` column, in their order (labels.csv and
    the manifest both write the states in label-vector order)."""
    return tuple(c.removesuffix("_state") for c in columns if c.endswith("_state"))


def image_format(image: Path, regions: Sequence[str]) -> FilmFormat:
    """The FilmFormat of a training image as found: its side and bit depth, the builder's
    windowing assumed."""
    try:
        with Image.open(image) as opened:
            width, height = opened.size
            bits = 16 if opened.mode.startswith("I") else 8
    except OSError as exc:
        raise RecordError(f"{image}: unreadable training image ({exc})") from exc
    return FilmFormat(max(width, height), bits, WINDOWING, tuple(regions))


def manifest_format(path: Path) -> FilmFormat:
    """The dataset record of a manifest: manifest.json, or for an older manifest one inferred
    from its region columns and its first image. The json's regions must match the columns."""
    path = Path(path)
    recorded = read_film_format(path)
    if path.suffix == ".parquet":
        header = list(pd.read_parquet(path).columns)
    else:
        header = list(pd.read_csv(path, nrows=0, encoding="utf-8").columns)
    regions = header_regions(header)
    if recorded is not None:
        if recorded.regions != regions:
            raise RecordError(
                f"{film_format_path(path)} names regions {list(recorded.regions)} but "
                f"{path.name} has label columns {list(regions)}"
            )
        return recorded
    if not regions:
        raise RecordError(f"{path}: no label columns (<region> with <region>_state)")
    missing = [c for c in columns(regions) if c not in header]
    if missing:
        raise RecordError(f"{path}: manifest lacks columns {missing}")
    first = (
        pd.read_csv(path, usecols=["image"], nrows=1, dtype=str)
        if path.suffix != ".parquet"
        else pd.read_parquet(path, columns=["image"]).head(1)
    )
    if first.empty:
        raise RecordError(f"{path}: no films")
    return image_format(path.parent / str(first["image"].iloc[0]), regions)

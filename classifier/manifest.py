"""The dataset manifest: one row per training example, the contract between `cxrclf dataset` and
training. Columns (docs/dataset.md is the reference):

image, patient_id, study_key, report_id, split, <region>... , <region>_state..., source_file,
source_image, replica, augment

Region columns come from the rule pack (`labeler.packs.region_ids`) in label-vector order.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from classifier.files import write_atomic, write_text_atomic

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


def write_manifest(rows: Iterable[ManifestRow], out_dir: Path, regions: Sequence[str]) -> None:
    """manifest.csv (UTF-8), and manifest.parquet too when pyarrow is importable."""
    frame = to_frame(rows, regions)
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

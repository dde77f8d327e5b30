"""NIH ChestX-ray14 as NIH distributes it, read into train and val sets for pretraining."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from classifier.data.manifest import image_format
from classifier.run import RecordError, Task
from classifier.training.datasets import DataError, LabelledImages, TaskData

NIH_LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)


def _entries(nih_dir: Path) -> pd.DataFrame:
    found = sorted(nih_dir.glob("Data_Entry_2017*.csv"))
    if not found:
        raise DataError(f"{nih_dir}: no Data_Entry_2017*.csv")
    # The newest release sorts last (Data_Entry_2017_v2020.csv). Its header has unquoted commas
    # inside two column names, so columns are taken by position, not by header.
    return pd.read_csv(
        found[-1],
        header=None,
        skiprows=1,
        usecols=[0, 1, 3],
        names=["image", "findings", "patient"],
        dtype=str,
        index_col=False,
    )


def _names(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: missing (NIH's official patient-wise split list)")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_nih(nih_dir: Path, val_fraction: float = 0.1, seed: int = 0) -> TaskData:
    """Films of train_val_list.txt with 14 labels; a patient-wise `val_fraction` held out.

    test_list.txt stays untouched, as NIH intends: pretraining never sees test patients.
    """
    nih_dir = Path(nih_dir)
    entries = _entries(nih_dir)
    located = {p.name: p for p in nih_dir.glob("images*/**/*.png")}
    wanted = set(_names(nih_dir / "train_val_list.txt"))
    entries = entries[entries["image"].isin(wanted)]
    present = entries["image"].isin(located).to_numpy()
    if not present.any():
        raise DataError(f"{nih_dir}: none of the train_val_list.txt films under images*/")
    if not present.all():
        # NIH ships the films in twelve archives; a partial download is common and still useful.
        warnings.warn(
            f"{nih_dir}: {(~present).sum()} listed films not found under images*/, skipped",
            stacklevel=2,
        )
    entries = entries[present]
    findings = entries["findings"].str.split("|")
    labels = np.array(
        [[label in f for label in NIH_LABELS] for f in findings], dtype=np.float32
    ).reshape(-1, len(NIH_LABELS))
    patients = np.array(sorted(entries["patient"].unique()))
    rng = np.random.default_rng(seed)
    n_val = max(1, round(val_fraction * len(patients)))
    val_patients = set(rng.choice(patients, size=n_val, replace=False))
    is_val = entries["patient"].isin(val_patients).to_numpy()
    if is_val.all():
        raise DataError(f"{nih_dir}: too few patients to hold out a validation set")
    paths = np.array([located[name] for name in entries["image"]], dtype=object)

    def part(rows: np.ndarray) -> LabelledImages:
        return LabelledImages(tuple(paths[rows]), labels[rows])

    # NIH's PNGs are used as distributed (8-bit, 1024 px): their format is read off the first.
    try:
        film = image_format(paths[0], NIH_LABELS)
    except RecordError as exc:
        raise DataError(str(exc)) from exc
    return TaskData(Task.CHESTX14, NIH_LABELS, NIH_LABELS, part(~is_val), part(is_val), film)

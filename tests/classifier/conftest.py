"""Fixtures for the classifier tests: synthetic films (DICOM written by pydicom, PNG by PIL),
labels.csv files and patient cohorts, all made in the test; and `tiny_arch`, a registered
network of a few thousand weights that trains in a second (the network of the version-1 run
kept in tests/data/classifier/old_run). Use them through the `films` and `tiny_arch` fixtures
(`films.write_dicom(...)`); the test modules cannot import each other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid
from torch import nn
from torchvision import models

from classifier.models import registry
from labeler.packs import region_ids

DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage - For Presentation


def dataset(
    pixels: np.ndarray,
    *,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    patient_id: str = "P001",
    accession: str = "A001",
    study_date: str = "20200101",
    study_uid: str = "1.2.3.4",
) -> Dataset:
    """A DX dataset holding `pixels` (2-D, or 3-D for several frames), uncompressed."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DX_SOP_CLASS
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientName = "Zhang^San"
    ds.PatientBirthDate = "19600101"
    ds.PatientID = patient_id
    ds.AccessionNumber = accession
    ds.StudyDate = study_date
    ds.StudyInstanceUID = study_uid
    ds.InstitutionName = "Secret Hospital"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    itemsize = pixels.dtype.itemsize
    ds.BitsAllocated = 8 * itemsize
    ds.BitsStored = bits_stored or 8 * itemsize
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def save(ds: Dataset, path: Path, *, rle: bool = False) -> Path:
    if rle:
        ds.compress(RLELossless)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_dicom(path: Path, pixels: np.ndarray, **header: str) -> Path:
    return save(dataset(pixels, **header), path)


def chest(height: int = 48, width: int = 40, seed: int = 0, top: int = 4095) -> np.ndarray:
    """A smooth uint16 film with a bright 'body' and some noise; values within [0, top]."""
    y, x = np.mgrid[0:height, 0:width]
    body = np.exp(-(((x - width / 2) / (width / 3)) ** 2) - ((y - height / 2) / (height / 3)) ** 2)
    noise = np.random.default_rng(seed).normal(0, 0.02, (height, width))
    return np.clip((0.1 + 0.8 * body + noise) * top, 0, top).astype(np.uint16)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def labels_frame(
    reports: dict[str, Sequence[int]], errors: dict[str, str] | None = None
) -> pd.DataFrame:
    """labels.csv as cxrlabel writes it, for report id -> five 0/1 labels."""
    regions = region_ids()
    rows = []
    for report_id, labels in reports.items():
        row: dict[str, object] = {"report_id": report_id}
        row |= dict(zip(regions, labels, strict=True))
        row |= {
            f"{r}_state": "positive" if v == 1 else "negative"
            for r, v in zip(regions, labels, strict=True)
        }
        row["no_region_mentioned"] = 0
        row["error"] = (errors or {}).get(report_id, "")
        rows.append(row)
    return pd.DataFrame(rows)


def write_labels(
    path: Path, reports: dict[str, Sequence[int]], errors: dict[str, str] | None = None
) -> Path:
    labels_frame(reports, errors).to_csv(path, index=False)
    return path


def cohort(patients: int, seed: int = 0) -> list[tuple[str, str, tuple[int, ...]]]:
    """(patient id, report id, labels) per film: 1-5 films per patient, one report per film,
    region prevalences roughly the paper's (lungs and aorta common, thorax and diaphragm rare)."""
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.02, 0.35, 0.38, 0.12, 0.03])
    films = []
    for p in range(patients):
        # Patients differ: some are sick in several films, most healthy.
        sick = rng.random() < 0.4
        for f in range(int(rng.integers(1, 6))):
            labels = rng.random(5) < (prevalence * (2.2 if sick else 0.2))
            films.append((f"P{p:04d}", f"R{p:04d}-{f}", tuple(int(v) for v in labels)))
    return films


class Films:
    dataset = staticmethod(dataset)
    save = staticmethod(save)
    write_dicom = staticmethod(write_dicom)
    chest = staticmethod(chest)
    write_png = staticmethod(write_png)
    labels_frame = staticmethod(labels_frame)
    write_labels = staticmethod(write_labels)
    cohort = staticmethod(cohort)


@pytest.fixture(scope="session")
def films() -> type[Films]:
    return Films


class TinyNet(nn.Module):
    """Two convolutions, BatchNorm, global average pooling and a torchvision-style 1000-way
    `fc` head (replaced by the region head, as for every registered network)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.fc = nn.Linear(16, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


TINY = registry.ArchSpec(
    name="tinynet",
    build=TinyNet,
    input_size=40,
    classifier="fc",
    first_conv="features.0",
    cam_layer="features.4",
    gap=True,
    weights=models.ResNet18_Weights.IMAGENET1K_V1,  # never loaded: tests train it from scratch
)


@pytest.fixture
def tiny_arch(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The network `tinynet`, registered for the test only."""
    monkeypatch.setitem(registry._REGISTRY, TINY.name, TINY)
    yield TINY.name

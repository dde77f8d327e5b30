"""Demo data: phantom films with a manifest in the dataset builder format, and a tiny NIH folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.data.manifest import MANIFEST_CSV, ManifestRow, write_manifest
from classifier.demo.phantom import PHANTOM_REGIONS, draw_phantom
from classifier.run import WINDOWING, FilmFormat

SPLITS = (("train", 0.8), ("val", 0.1), ("test", 0.1))
# How the NIH folder's labels follow from the phantom regions; other NIH labels never occur.
NIH_FROM_REGION = {"heart": "Cardiomegaly", "lungs": "Nodule", "diaphragm": "Effusion"}


def _draw_labels(rng: np.random.Generator, regions: tuple[str, ...]) -> dict[str, bool]:
    # About 40% fully normal films; the rest have one or more abnormal regions.
    if rng.random() < 0.4:
        return dict.fromkeys(regions, False)
    flags = rng.random(len(regions)) < 0.35
    flags[rng.integers(len(regions))] = True
    return dict(zip(regions, flags.tolist(), strict=True))


def _split_of(index: int, n: int) -> str:
    edge = 0.0
    for name, share in SPLITS:
        edge += share
        if index < round(edge * n):
            return name
    return SPLITS[-1][0]


def write_demo(out: Path, n_films: int = 600, seed: int = 0, size: int = 256) -> Path:
    """Write `n_films` phantoms under out/images and the manifest; one film per patient."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    regions = PHANTOM_REGIONS
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_films)
    rows = []
    for i in range(n_films):
        labels = _draw_labels(rng, regions)
        name = f"images/demo{i:05d}.png"
        draw_phantom(labels, rng, size).save(out / name)
        rows.append(
            ManifestRow(
                image=name,
                patient_id=f"P{i:05d}",
                study_key=f"S{i:05d}",
                report_id=f"R{i:05d}",
                split=_split_of(int(order[i]), n_films),
                labels=tuple(int(labels[r]) for r in regions),
                states=tuple("positive" if labels[r] else "negative" for r in regions),
                source_file="",
                source_image="",
            )
        )
    write_manifest(rows, out, FilmFormat(size, 8, WINDOWING, regions))
    return out / MANIFEST_CSV


def write_nih_demo(out: Path, n_films: int = 300, seed: int = 1, size: int = 256) -> Path:
    """A folder laid out like NIH ChestX-ray14: Data_Entry_2017.csv, split lists, images_001/."""
    out = Path(out)
    images = out / "images_001" / "images"
    images.mkdir(parents=True, exist_ok=True)
    regions = PHANTOM_REGIONS
    rng = np.random.default_rng(seed)
    # NIH's header really has these unquoted commas inside two column names.
    lines = [
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],"
    ]
    train_val, test = [], []
    n_patients = max(2, n_films // 2)
    for i in range(n_films):
        patient = i % n_patients + 1
        labels = _draw_labels(rng, regions)
        name = f"{patient:08d}_{i // n_patients:03d}.png"
        draw_phantom(labels, rng, size).save(images / name)
        findings = [
            NIH_FROM_REGION[r] for r, flag in labels.items() if flag and r in NIH_FROM_REGION
        ]
        text = "|".join(findings) if findings else "No Finding"
        lines.append(
            f"{name},{text},{i // n_patients},{patient},50,M,PA,{size},{size},0.143,0.143,"
        )
        # The official split is patient-wise: the last tenth of the patients are the test list.
        (test if patient > 0.9 * n_patients else train_val).append(name)
    (out / "Data_Entry_2017.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "train_val_list.txt").write_text("\n".join(train_val) + "\n", encoding="utf-8")
    (out / "test_list.txt").write_text("\n".join(test) + "\n", encoding="utf-8")
    return out

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.demo.data import NIH_FROM_REGION, write_nih_demo
from classifier.training.datasets import DataError
from classifier.training.nih import NIH_LABELS, read_nih


@pytest.fixture(scope="module")
def nih(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nih_demo(tmp_path_factory.mktemp("nih"), n_films=40, size=64)


def test_reads_the_nih_layout(nih: Path) -> None:
    data = read_nih(nih)
    assert data.task == "chestx14" and data.labels == NIH_LABELS and len(NIH_LABELS) == 14
    test = set((nih / "test_list.txt").read_text().split())
    names = {p.name for p in data.train.paths + data.val.paths}
    assert names and not names & test
    assert data.train.labels.shape[1] == 14
    # Every finding the demo writes is one of NIH's labels.
    assert set(NIH_FROM_REGION.values()) <= set(NIH_LABELS)


def test_validation_holds_out_whole_patients(nih: Path) -> None:
    data = read_nih(nih, val_fraction=0.2)

    def patients(paths: tuple[Path, ...]) -> set[str]:
        return {p.name.split("_")[0] for p in paths}

    assert patients(data.val.paths) and not patients(data.train.paths) & patients(data.val.paths)


def test_labels_match_the_entry_file(tmp_path: Path) -> None:
    images = tmp_path / "images_001" / "images"
    images.mkdir(parents=True)

    for name in ("00000001_000.png", "00000002_000.png", "00000003_000.png"):
        Image.new("L", (8, 8)).save(images / name)
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,"
        "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
        "00000001_000.png,Cardiomegaly|Hernia,0,1,58,M,PA,2682,2749,0.143,0.143\n"
        "00000002_000.png,No Finding,0,2,58,M,PA,2682,2749,0.143,0.143\n"
        "00000003_000.png,Effusion,0,3,58,M,PA,2682,2749,0.143,0.143\n"
        "00000004_000.png,Effusion,0,4,58,M,PA,2682,2749,0.143,0.143\n",
        encoding="utf-8",
    )
    (tmp_path / "train_val_list.txt").write_text(
        "00000001_000.png\n00000002_000.png\n00000003_000.png\n00000004_000.png\n"
    )
    (tmp_path / "test_list.txt").write_text("")
    with pytest.warns(UserWarning, match="1 listed films not found"):
        data = read_nih(tmp_path, val_fraction=0.3)
    rows = {p.name: row for p, row in zip(data.train.paths, data.train.labels, strict=True)}
    rows |= {p.name: row for p, row in zip(data.val.paths, data.val.labels, strict=True)}
    expect = np.zeros(14, dtype=np.float32)
    expect[[NIH_LABELS.index("Cardiomegaly"), NIH_LABELS.index("Hernia")]] = 1
    assert np.array_equal(rows["00000001_000.png"], expect)
    assert not rows["00000002_000.png"].any()


def test_missing_pieces_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no Data_Entry_2017"):
        read_nih(tmp_path)
    (tmp_path / "Data_Entry_2017.csv").write_text("a,b,c,d\n", encoding="utf-8")
    with pytest.raises(DataError, match="train_val_list.txt: missing"):
        read_nih(tmp_path)

import numpy as np
import pandas as pd
import pytest

from classifier.data.manifest import (
    MANIFEST_CSV,
    MANIFEST_PARQUET,
    ManifestRow,
    columns,
    header_regions,
    manifest_format,
    read_manifest,
    to_frame,
    write_manifest,
)
from classifier.run import WINDOWING, FilmFormat, RecordError, film_format_path
from labeler.packs import region_ids

REGIONS = region_ids()
FILM = FilmFormat(256, 8, WINDOWING, REGIONS)
ROWS = [
    ManifestRow(
        image="images/abc.png",
        patient_id="000123",
        study_key="0042",
        report_id="0042",
        split="train",
        labels=(1, 0, 0, 1, 0),
        states=("positive", "negative", "not_mentioned", "positive", "negative"),
        source_file="p/1.dcm",
        source_image="images/abc.png",
    ),
    ManifestRow(
        image="augmented/abc_r1_a0_ff.png",
        patient_id="000123",
        study_key="0042",
        report_id="0042",
        split="train",
        labels=(1, 0, 0, 1, 0),
        states=("positive", "negative", "not_mentioned", "positive", "negative"),
        source_file="p/1.dcm",
        source_image="images/abc.png",
        replica=1,
        augment='{"angle": 3.0, "scale": 0.95, "shift_x": 0.0, "shift_y": 0.01}',
    ),
]


def test_columns_follow_the_region_list():
    assert columns(REGIONS) == [
        "image",
        "patient_id",
        "study_key",
        "report_id",
        "split",
        *REGIONS,
        *(f"{r}_state" for r in REGIONS),
        "source_file",
        "source_image",
        "replica",
        "augment",
    ]


def test_csv_round_trip_keeps_text_ids(tmp_path):
    write_manifest(ROWS, tmp_path, FILM)
    assert read_manifest(tmp_path / MANIFEST_CSV, REGIONS) == ROWS
    frame = pd.read_csv(tmp_path / MANIFEST_CSV)
    assert list(frame.columns) == columns(REGIONS)
    assert frame[list(REGIONS)].dtypes.map(lambda d: d.kind).eq("i").all()


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    write_manifest(ROWS, tmp_path, FILM)
    assert read_manifest(tmp_path / MANIFEST_PARQUET, REGIONS) == ROWS


def test_reading_checks_columns_and_splits(tmp_path):
    frame = to_frame(ROWS, REGIONS)
    frame.drop(columns=["heart"]).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match="lacks columns"):
        read_manifest(tmp_path / "a.csv", REGIONS)
    frame.assign(split="holdout").to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValueError, match="unknown splits"):
        read_manifest(tmp_path / "b.csv", REGIONS)


def test_empty_manifest(tmp_path):
    write_manifest([], tmp_path, FILM)
    assert read_manifest(tmp_path / MANIFEST_CSV, REGIONS) == []


def test_the_record_beside_the_manifest_names_its_regions(tmp_path):
    write_manifest(ROWS, tmp_path, FILM)
    assert film_format_path(tmp_path / MANIFEST_CSV) == tmp_path / "manifest.json"
    assert manifest_format(tmp_path / MANIFEST_CSV) == FILM
    assert header_regions(columns(REGIONS)) == REGIONS


def test_a_record_that_disagrees_with_the_columns_is_refused(tmp_path):
    write_manifest(ROWS, tmp_path, FILM)
    (tmp_path / "manifest.json").write_text(
        (tmp_path / "manifest.json").read_text().replace('"thorax"', '"spine"')
    )
    with pytest.raises(RecordError, match="names regions"):
        manifest_format(tmp_path / MANIFEST_CSV)


def test_an_older_manifest_gets_its_record_from_its_header_and_first_image(tmp_path):
    from PIL import Image

    write_manifest(ROWS, tmp_path, FILM)
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((320, 320), dtype=np.uint16)).save(tmp_path / "images/abc.png")
    assert manifest_format(tmp_path / MANIFEST_CSV) == FilmFormat(320, 16, WINDOWING, REGIONS)

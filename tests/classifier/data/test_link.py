import pandas as pd
import pytest

from classifier.data.dicomio import FileError, Header
from classifier.data.link import (
    FILE_NOT_FOUND,
    NO_PATIENT,
    NOT_LINKED,
    InputError,
    Labels,
    Report,
    Source,
    link_films,
    missing_files,
    missing_reason,
    read_labels,
    read_link,
)
from labeler.packs import region_ids

REGIONS = region_ids()
NORMAL = (0, 0, 0, 0, 0)


def write(tmp_path, frame: pd.DataFrame, name: str = "labels.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_region_columns_come_from_the_pack(films):
    frame = films.labels_frame({"1": NORMAL})
    assert [c for c in frame.columns if c in REGIONS] == list(REGIONS)


def test_read_labels_keeps_ids_as_text_and_states(films, tmp_path):
    path = films.write_labels(tmp_path / "l.csv", {"00123": (1, 0, 0, 1, 0), "7": NORMAL})
    labels = read_labels(path, REGIONS)
    assert set(labels.reports) == {"00123", "7"}
    report = labels.reports["00123"]
    assert report.labels == (1, 0, 0, 1, 0)
    assert report.states == ("positive", "negative", "negative", "positive", "negative")
    assert labels.failed == ()


def test_empty_label_reads_as_zero(films, tmp_path):
    frame = films.labels_frame({"a": (1, 1, 0, 0, 0)})
    frame["lungs"] = ""
    frame["lungs_state"] = "not_mentioned"
    labels = read_labels(write(tmp_path, frame), REGIONS)
    assert labels.reports["a"].labels == (1, 0, 0, 0, 0)


def test_uncertain_labels_are_refused_with_their_reports(films, tmp_path):
    frame = films.labels_frame({"a": NORMAL, "b": NORMAL})
    frame.loc[1, "heart"] = -1
    frame.loc[1, "heart_state"] = "uncertain"
    with pytest.raises(InputError, match=r"uncertain labels \(-1\) in reports b"):
        read_labels(write(tmp_path, frame), REGIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["aorta"]), "missing columns aorta"),
        (lambda f: f.drop(columns=["heart_state"]), "missing columns heart_state"),
        (lambda f: f.assign(lungs="2"), "labels other than 0, 1 or empty"),
        (lambda f: f.assign(lungs_state="maybe"), "unknown states"),
        (lambda f: pd.concat([f, f]), "report_id repeated: a"),
    ],
)
def test_bad_labels_files(films, tmp_path, change, message):
    frame = change(films.labels_frame({"a": NORMAL}))
    with pytest.raises(InputError, match=message):
        read_labels(write(tmp_path, frame), REGIONS)


def test_rows_with_labeler_errors_are_set_aside(films, tmp_path):
    path = films.write_labels(tmp_path / "l.csv", {"a": NORMAL, "b": NORMAL}, {"b": "empty"})
    labels = read_labels(path, REGIONS)
    assert set(labels.reports) == {"a"}
    assert labels.failed == ("b",)


def test_read_link_by_image_and_by_key(tmp_path):
    by_image = pd.DataFrame(
        {"image": ["p1\\a.png", "b.dcm"], "report_id": ["r1", "r2"], "patient_id": ["P1", ""]}
    )
    table = read_link(write(tmp_path, by_image, "link.csv"))
    assert table.by_image == {"p1/a.png": ("r1", "P1"), "b.dcm": ("r2", "")}
    by_key = pd.DataFrame({"study_key": ["A1", "A1"], "report_id": ["r1", "r1"]})
    assert read_link(write(tmp_path, by_key, "key.csv")).by_key == {"A1": "r1"}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"image": ["a", "a"], "report_id": ["1", "2"]}), "images linked twice"),
        (pd.DataFrame({"study_key": ["k", "k"], "report_id": ["1", "2"]}), "two reports"),
        (pd.DataFrame({"file": ["a"], "report_id": ["1"]}), "missing columns study_key"),
    ],
)
def test_bad_link_files(tmp_path, frame, message):
    with pytest.raises(InputError, match=message):
        read_link(write(tmp_path, frame, "link.csv"))


def labels_for(*ids: str) -> Labels:
    return Labels({i: Report(i, NORMAL, ("negative",) * 5) for i in ids}, ())


def header(patient="P1", accession="A1", uid="1.2.3", date="20200101") -> Header:
    return Header(patient, accession, uid, date)


@pytest.mark.parametrize(
    ("key", "report_id"),
    [("accession", "A1"), ("study_uid", "1.2.3"), ("patient_date", "P1_20200101")],
)
def test_link_by_header_key(key, report_id):
    linking = link_films([Source("a.dcm", header())], labels_for(report_id), key, None)
    (film,) = linking.films
    assert (film.patient_id, film.study_key, film.report_id) == ("P1", report_id, report_id)


@pytest.mark.parametrize(
    ("key", "film_header", "reason"),
    [
        ("accession", header(accession=""), missing_reason("AccessionNumber")),
        ("study_uid", header(uid=""), missing_reason("StudyInstanceUID")),
        ("patient_date", header(date=""), missing_reason("StudyDate")),
        ("accession", header(patient=""), missing_reason("PatientID")),
    ],
)
def test_missing_header_fields_are_errors(key, film_header, reason):
    linking = link_films([Source("a.dcm", film_header)], labels_for("A1"), key, None)
    assert linking.errors == (FileError("a.dcm", reason),)


def test_unmatched_films_and_reports_are_listed():
    sources = [Source("a.dcm", header(accession="A1")), Source("b.dcm", header(accession="B"))]
    linking = link_films(sources, labels_for("A1", "C"), "accession", None)
    assert [f.file for f in linking.films] == ["a.dcm"]
    assert linking.images_without_report == ("b.dcm",)
    assert linking.reports_without_image == ("C",)
    assert linking.errors == ()


def test_png_needs_an_image_link_with_patient(tmp_path):
    assert link_films([Source("a.png", None)], labels_for("r"), "accession", None).errors == (
        FileError("a.png", NOT_LINKED),
    )
    link = pd.DataFrame({"image": ["a.png", "b.png"], "report_id": ["r", "r"]})
    table = read_link(write(tmp_path, link, "link.csv"))
    sources = [Source("a.png", None), Source("b.png", None)]
    assert [e.reason for e in link_films(sources, labels_for("r"), "accession", table).errors] == [
        NO_PATIENT,
        NO_PATIENT,
    ]


def test_image_link_uses_csv_patient_or_header(tmp_path):
    link = pd.DataFrame(
        {"image": ["a.png", "b.dcm", "gone.dcm"], "report_id": ["r1", "r2", "r2"]}
        | {"patient_id": ["P9", "", ""]}
    )
    table = read_link(write(tmp_path, link, "link.csv"))
    sources = [Source("a.png", None), Source("b.dcm", header(patient="P5")), Source("c.dcm", None)]
    linking = link_films(sources, labels_for("r1", "r2"), "accession", table)
    assert [(f.file, f.patient_id, f.study_key) for f in linking.films] == [
        ("a.png", "P9", "r1"),
        ("b.dcm", "P5", "r2"),
    ]
    assert linking.images_without_report == ("c.dcm",)
    assert missing_files(table, {"a.png", "b.dcm", "c.dcm"}) == (
        FileError("gone.dcm", FILE_NOT_FOUND),
    )


def test_key_link_maps_header_values_to_report_ids(tmp_path):
    link = pd.DataFrame({"study_key": ["A1"], "report_id": ["report-7"]})
    table = read_link(write(tmp_path, link, "link.csv"))
    linking = link_films([Source("a.dcm", header())], labels_for("report-7"), "accession", table)
    (film,) = linking.films
    assert (film.study_key, film.report_id) == ("A1", "report-7")

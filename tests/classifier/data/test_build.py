import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from classifier.data import dicomio
from classifier.data.build import BuildConfig, build, film_id, scan
from classifier.data.link import InputError
from classifier.data.manifest import MANIFEST_CSV, read_manifest
from classifier.data.transforms import AugmentParams
from classifier.files import read_png
from labeler.packs import region_ids

REGIONS = region_ids()


def make_folder(films, root, patients: int, seed: int = 0, size: tuple[int, int] = (40, 32)):
    """A DICOM folder (accession = report id) for a cohort, its labels.csv, and some bad files."""
    images = root / "dicom"
    reports = {}
    for i, (patient, report, labels) in enumerate(films.cohort(patients, seed)):
        pixels = films.chest(*size, seed=i)
        films.write_dicom(
            images / patient / f"{i}.dcm", pixels, patient_id=patient, accession=report
        )
        reports[report] = labels
    reports["R-no-image"] = (0, 0, 0, 0, 0)
    films.write_dicom(images / "stray.dcm", films.chest(), accession="NO-REPORT")
    films.write_dicom(images / "bad" / "multi.dcm", np.stack([films.chest()] * 2), accession="X1")
    films.write_dicom(
        images / "bad" / "colour.dcm", films.chest(), photometric="RGB", accession="X2"
    )
    (images / "bad" / "junk.dcm").write_bytes(b"not dicom" * 30)
    (images / ".hidden").write_bytes(b"ignored")
    labels = films.write_labels(
        root / "labels.csv", reports | {"X1": (1, 0, 0, 0, 0), "X2": (0,) * 5}
    )
    return images, labels


@pytest.fixture(scope="module")
def built(films, tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    images, labels = make_folder(films, root, patients=40)
    config = BuildConfig(
        images=images, labels=labels, out=root / "data", size=32, offline_augment=2
    )
    return config, build(config, progress=False)


def test_outputs_exist(built):
    config, result = built
    names = {p.name for p in config.out.iterdir()}
    assert {"images", "augmented", MANIFEST_CSV, "stats.md", "errors.csv", "unlinked.csv"} <= names
    assert read_manifest(config.out / MANIFEST_CSV, REGIONS) == list(result.rows)
    for row in result.rows:
        assert (config.out / row.image).is_file()


def test_bad_files_are_listed_with_their_reasons(built):
    config, result = built
    errors = pd.read_csv(config.out / "errors.csv")
    assert list(errors.columns) == ["file", "reason"]
    assert dict(zip(errors["file"], errors["reason"], strict=True)) == {
        "bad/colour.dcm": dicomio.photometric_reason("RGB"),
        "bad/junk.dcm": dicomio.NOT_DICOM,
        "bad/multi.dcm": dicomio.multi_frame_reason(2),
    }
    assert len(result.errors) == 3


def test_unlinked_images_and_reports(built):
    config, _ = built
    unlinked = pd.read_csv(config.out / "unlinked.csv", dtype=str)
    assert set(zip(unlinked["kind"], unlinked["id"], strict=True)) == {
        ("image_without_report", "stray.dcm"),
        ("report_without_image", "R-no-image"),
    }


def test_no_patient_crosses_splits(built):
    _, result = built
    splits_of = {}
    for row in result.rows:
        splits_of.setdefault(row.patient_id, set()).add(row.split)
    assert all(len(s) == 1 for s in splits_of.values())
    assert {row.split for row in result.rows} == {"train", "val", "test"}


def test_copies_and_augmentation_only_in_train(built):
    _, result = built
    for row in result.rows:
        if row.split != "train":
            assert row.replica == 0 and row.augment == ""
            assert row.image == row.source_image
    train = [r for r in result.rows if r.split == "train"]
    plain = [r for r in train if not r.augment]
    assert any(r.replica > 0 for r in plain)
    assert len(train) == 3 * len(plain)  # two augmented copies each
    shares = np.array([r.labels for r in plain]).mean(axis=0)
    present = np.array([r.labels for r in plain]).sum(axis=0) > 0
    assert (shares[present] >= 0.2 - 1e-9).all() or result.short


def test_augmented_rows_point_to_their_source(built):
    config, result = built
    for row in (r for r in result.rows if r.augment):
        params = AugmentParams.from_json(row.augment)
        assert abs(params.angle) <= 15 and 0.9 <= params.scale <= 1
        assert row.source_image.startswith("images/") and row.image.startswith("augmented/")
        assert read_png(config.out / row.image).shape == (32, 32)


def test_nothing_identifying_leaves_the_header(built):
    config, _ = built
    text = "".join(
        p.read_text(encoding="utf-8") for p in config.out.iterdir() if p.suffix in (".csv", ".md")
    )
    for secret in ("Zhang", "Secret Hospital", "19600101", "1.2.3.4"):
        assert secret not in text


def test_rerun_converts_nothing_and_writes_the_same_manifest(built):
    config, result = built
    before = (config.out / MANIFEST_CSV).read_bytes()
    again = build(config, progress=False)
    assert again.converted == 0 and again.skipped == result.converted + result.skipped
    assert (config.out / MANIFEST_CSV).read_bytes() == before


def test_stats_show_table_1_per_split(built):
    config, _ = built
    stats = (config.out / "stats.md").read_text(encoding="utf-8")
    for title in ("### all", "### train", "### val", "### test", "## Balancing (train only)"):
        assert title in stats
    assert "| count | overlap | overlap rate |" in stats


def test_two_workers_build_the_same_dataset(films, tmp_path):
    images, labels = make_folder(films, tmp_path, patients=8, seed=5, size=(24, 20))
    one = BuildConfig(images=images, labels=labels, out=tmp_path / "one", size=16)
    one = replace(one, offline_augment=1)
    two = replace(one, out=tmp_path / "two", workers=2)
    first, second = build(one, progress=False), build(two, progress=False)
    assert first.rows == second.rows and first.errors == second.errors
    for row in first.rows:
        assert (one.out / row.image).read_bytes() == (two.out / row.image).read_bytes()


def test_keep_full_16_bit(films, tmp_path):
    pixels = films.chest(50, 30, seed=9)
    films.write_dicom(tmp_path / "in/a.dcm", pixels, bits_stored=12, accession="A")
    labels = films.write_labels(tmp_path / "labels.csv", {"A": (0, 1, 0, 0, 0)})
    config = BuildConfig(
        images=tmp_path / "in",
        labels=labels,
        out=tmp_path / "out",
        size=24,
        bit_depth=16,
        split=(1.0, 0.0, 0.0),
    )
    result = build(replace(config, keep_full=True), progress=False)
    (row,) = result.rows
    np.testing.assert_array_equal(
        read_png(tmp_path / "out/full" / f"{film_id('a.dcm')}.png"), pixels
    )
    image = read_png(tmp_path / "out" / row.image)
    assert image.dtype == np.uint16 and image.shape == (24, 24)


def test_png_inputs_through_an_image_link(films, tmp_path):
    films.write_png(tmp_path / "in/x.png", (films.chest() // 16).astype(np.uint8))
    films.write_png(tmp_path / "in/y.png", (films.chest(seed=1) // 16).astype(np.uint8))
    link = pd.DataFrame({"image": ["x.png", "y.png"], "report_id": ["r1", "r2"]})
    link["patient_id"] = ["007", "008"]
    link.to_csv(tmp_path / "link.csv", index=False)
    labels = films.write_labels(tmp_path / "labels.csv", {"r1": (0,) * 5, "r2": (0, 0, 1, 0, 0)})
    config = BuildConfig(
        images=tmp_path / "in",
        labels=labels,
        out=tmp_path / "out",
        link=tmp_path / "link.csv",
        size=16,
        split=(1.0, 0.0, 0.0),
    )
    result = build(config, progress=False)
    assert sorted((r.patient_id, r.report_id) for r in result.rows if r.replica == 0) == [
        ("007", "r1"),
        ("008", "r2"),
    ]


def test_scan_skips_hidden_dicomdir_and_the_outputs(tmp_path):
    names = ("a.dcm", "DICOMDIR", ".DS_Store", "sub/b", "out/images/c.png", ".git/x", "labels.csv")
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert scan(tmp_path, [tmp_path / "out", tmp_path / "labels.csv"]) == (["a.dcm", "sub/b"], [])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_item7_links_fifos_and_truncated_films_are_error_rows(films, tmp_path):
    images, labels = make_folder(films, tmp_path, patients=6)
    (images / "loop.dcm").symlink_to("loop.dcm")
    (images / "dangling.dcm").symlink_to(tmp_path / "gone.dcm")
    os.mkfifo(images / "pipe.dcm")
    whole = (images / "stray.dcm").read_bytes()
    (images / "cut.dcm").write_bytes(whole[: len(whole) // 2])
    (images / "cut_header.dcm").write_bytes(whole[:300])
    config = BuildConfig(
        images=images, labels=labels, out=tmp_path / "data", size=16, split=(1.0, 0.0, 0.0)
    )
    result = build(config, progress=False)
    errors = pd.read_csv(config.out / "errors.csv")
    assert dict(zip(errors["file"], errors["reason"], strict=True)) == {
        "bad/colour.dcm": dicomio.photometric_reason("RGB"),
        "bad/junk.dcm": dicomio.NOT_DICOM,
        "bad/multi.dcm": dicomio.multi_frame_reason(2),
        "cut.dcm": "truncated DICOM file (it ends inside its data)",
        "cut_header.dcm": "truncated DICOM file (it ends inside its data)",
        "dangling.dcm": "broken symlink: its target does not exist (skipped)",
        "loop.dcm": "symlink loop (skipped)",
        "pipe.dcm": "not a regular file, skipped (FIFO)",
    }
    assert not {"cut.dcm", "loop.dcm", "pipe.dcm"} & {f.file for f in result.linking.films}


@pytest.mark.slow
def test_cohort_of_500_patients_end_to_end(films, tmp_path):
    images, labels = make_folder(films, tmp_path, patients=500, seed=3, size=(8, 8))
    config = BuildConfig(images=images, labels=labels, out=tmp_path / "data", size=8)
    result = build(config, progress=False)
    originals = [r for r in result.rows if r.replica == 0]
    assert len({r.patient_id for r in originals}) == 500
    split_of = {}
    for row in result.rows:
        assert split_of.setdefault(row.patient_id, row.split) == row.split
    shares = pd.Series([r.split for r in originals]).value_counts(normalize=True)
    for name, fraction in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
        assert abs(shares[name] - fraction) <= 0.03
    train = np.array([r.labels for r in result.rows if r.split == "train"])
    assert result.short == () and (train.mean(axis=0) >= 0.2).all()
    kept = np.array([r.labels for r in originals if r.split != "train"])
    assert (kept.mean(axis=0) < 0.2)[[0, 4]].all()  # val/test keep the natural prevalence


def test_small_dataset_build_with_too_few_patients_is_an_error(films, tmp_path):
    images, labels = make_folder(films, tmp_path, patients=2)
    config = BuildConfig(images=images, labels=labels, out=tmp_path / "data", size=16)
    with pytest.raises(InputError) as caught:
        build(config, progress=False)
    message = str(caught.value)
    assert message.startswith("too few patients (2) for --split 0.8,0.1,0.1: ")
    assert message.endswith(
        "every split with a share needs at least 1 patient: add films, or give such a split 0"
    )
    assert not (config.out / MANIFEST_CSV).exists()
    assert (config.out / "errors.csv").is_file()  # why the other films failed, still written
    # a split given no share may stay empty
    build(replace(config, split=(1.0, 0.0, 0.0)), progress=False)
    assert (config.out / MANIFEST_CSV).is_file()


def test_small_dataset_build_that_links_nothing_is_an_error(films, tmp_path):
    images, _ = make_folder(films, tmp_path, patients=2)
    labels = films.write_labels(tmp_path / "other.csv", {"NOT-THERE": (0, 0, 0, 0, 0)})
    config = BuildConfig(images=images, labels=labels, out=tmp_path / "data", size=16)
    with pytest.raises(InputError) as caught:
        build(config, progress=False)
    files = len(scan(images)[0])
    assert str(caught.value) == (
        f"no film was linked to a report and converted ({files} files found); "
        "see errors.csv and unlinked.csv in the output folder"
    )
    assert not (config.out / MANIFEST_CSV).exists()


def test_low_zero_byte_labels_file_is_one_line_error(films, tmp_path):
    images, _ = make_folder(films, tmp_path, patients=2)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    config = BuildConfig(images=images, labels=empty, out=tmp_path / "data", size=16)
    with pytest.raises(InputError) as caught:
        build(config, progress=False)
    assert str(caught.value) == f"{empty}: empty file (no header row)"

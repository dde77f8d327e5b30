import os

import numpy as np
import pytest

from classifier.data.convert import ConvertJob, convert, outputs_valid, training_image
from classifier.data.dicomio import NOT_DICOM, Film, LinearMap
from classifier.files import encode_png, is_valid_png, read_png, write_atomic


def film(values: np.ndarray, bits: int = 12, windowed: bool = True) -> Film:
    return Film(values, bits, LinearMap(1 / (2**bits - 1), 0.0), windowed)


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_letterbox_keeps_aspect_and_centres(bit_depth):
    values = np.full((100, 50), 4095, dtype=np.uint16)  # portrait, all white
    out = training_image(film(values), 64, bit_depth)
    assert out.shape == (64, 64)
    assert out.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
    white = np.iinfo(out.dtype).max
    columns = np.flatnonzero(out.max(axis=0))
    assert (columns[0], columns[-1]) == (16, 47)  # 32 columns wide, centred
    assert (out[:, 16:48] == white).all()
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()


def test_landscape_is_padded_top_and_bottom():
    out = training_image(film(np.full((30, 60), 4095, dtype=np.uint16)), 60, 8)
    rows = np.flatnonzero(out.max(axis=1))
    assert (rows[0], rows[-1]) == (15, 44)


def test_exact_levels_on_a_downscale():
    values = np.full((64, 64), 2048, dtype=np.uint16)
    values[:, 32:] = 1024
    out = training_image(film(values), 32, 16)
    np.testing.assert_array_equal(out[:, :15], round(2048 / 4095 * 65535))
    np.testing.assert_array_equal(out[:, 17:], round(1024 / 4095 * 65535))


def test_8_bit_path_is_within_one_level_of_the_16_bit_path(films):
    values = films.chest(200, 160, seed=1)
    eight = training_image(film(values), 64, 8).astype(int)
    sixteen = np.floor(training_image(film(values), 64, 16) / 65535 * 255 + 0.5).astype(int)
    assert np.abs(eight - sixteen).max() <= 1


def test_unwindowed_film_is_stretched_windowed_is_not():
    values = np.tile(np.linspace(1000, 2000, 64).astype(np.uint16), (64, 1))
    stretched = training_image(film(values, windowed=False), 64, 8)
    assert (stretched.min(), stretched.max()) == (0, 255)
    kept = training_image(film(values, windowed=True), 64, 8)
    assert kept.min() == round(1000 / 4095 * 255)
    assert kept.max() == round(2000 / 4095 * 255)


def test_convert_writes_outputs_and_full_round_trips(films, tmp_path):
    pixels = films.chest(60, 50, seed=2)
    source = films.write_dicom(tmp_path / "in" / "a.dcm", pixels, bits_stored=12)
    job = ConvertJob(source, tmp_path / "out/images/a.png", tmp_path / "out/full/a.png", 32, 8)
    assert convert(job).reason == ""
    assert read_png(job.image).shape == (32, 32)
    full = read_png(job.full)
    assert full.dtype == np.uint16
    np.testing.assert_array_equal(full, pixels)
    assert outputs_valid(job)
    assert not [p for p in (tmp_path / "out").rglob("*.tmp")]


def test_rerun_skips_valid_outputs_and_redoes_broken_ones(films, tmp_path):
    source = films.write_dicom(tmp_path / "a.dcm", films.chest(seed=3))
    job = ConvertJob(source, tmp_path / "images/a.png", None, 32, 16)
    assert not convert(job).skipped
    stamp = job.image.stat().st_mtime_ns
    assert convert(job).skipped
    assert job.image.stat().st_mtime_ns == stamp
    job.image.write_bytes(job.image.read_bytes()[:-20])  # torn by a crash before this version
    assert not convert(job).skipped
    assert is_valid_png(job.image, "I;16", (32, 32))
    bigger = ConvertJob(source, job.image, None, 48, 16)  # --size changed since
    assert not convert(bigger).skipped
    assert read_png(job.image).shape == (48, 48)


def test_failing_film_reports_its_reason(tmp_path):
    source = tmp_path / "x.dcm"
    source.write_bytes(b"garbage" * 50)
    result = convert(ConvertJob(source, tmp_path / "images/x.png", None, 32, 8))
    assert result.reason == NOT_DICOM
    assert not (tmp_path / "images/x.png").exists()


def test_write_atomic_replaces_and_uses_normal_permissions(tmp_path):
    target = tmp_path / "sub" / "f.png"
    write_atomic(target, encode_png(np.zeros((4, 4), np.uint8)))
    write_atomic(target, encode_png(np.ones((4, 4), np.uint8)))
    assert read_png(target).max() == 1
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["f.png"]


def test_unexpected_failure_is_isolated(films, tmp_path, monkeypatch):
    def explode(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr("classifier.data.convert.training_image", explode)
    source = films.write_dicom(tmp_path / "a.dcm", films.chest())
    result = convert(ConvertJob(source, tmp_path / "images/a.png", None, 16, 8))
    assert result.reason == "conversion failed: RuntimeError: boom"

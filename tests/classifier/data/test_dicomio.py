from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence as DicomSequence

from classifier.data import dicomio
from classifier.data.convert import ConvertJob, convert, full_image
from classifier.data.dicomio import (
    FilmError,
    LinearMap,
    TableMap,
    bits_reason,
    multi_frame_reason,
    no_decoder_reason,
    photometric_reason,
    read_film,
    read_header,
)
from classifier.files import read_png

RAMP16 = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
RAMP12 = np.arange(4096, dtype=np.uint16).reshape(64, 64)


def reference(ds: Dataset, window_range: tuple[float, float]) -> np.ndarray:
    """pydicom's float64 pipeline as Bits Stored levels, before rounding."""
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds)
    low, high = window_range
    unit = np.clip((values - low) / (high - low), 0, 1)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        unit = 1 - unit
    return unit * (2**ds.BitsStored - 1)


def assert_rounds(actual: np.ndarray, levels: np.ndarray) -> None:
    """`actual` is `levels` rounded half up; where a level is a tie (x.5 up to float noise,
    which differs with the order of operations) either neighbour is right."""
    rounded = np.floor(levels + 0.5)
    tie = np.abs(levels - np.floor(levels) - 0.5) < 1e-9
    ok = (actual == rounded) | (tie & (np.abs(actual - levels) <= 0.5 + 1e-9))
    assert ok.all(), f"{(~ok).sum()} pixels differ, first at {np.argwhere(~ok)[0]}"
    assert (actual == rounded)[~tie].all()


@pytest.mark.parametrize(
    ("pixels", "bits", "photometric", "expected"),
    [
        (RAMP16, 16, "MONOCHROME2", RAMP16),
        (RAMP16, 16, "MONOCHROME1", 65535 - RAMP16),
        (RAMP12, 12, "MONOCHROME2", RAMP12),
        (RAMP12, 12, "MONOCHROME1", 4095 - RAMP12),
        (RAMP12.astype(np.uint8) // 16, 8, "MONOCHROME2", RAMP12.astype(np.uint8) // 16),
    ],
    ids=["mono2-16", "mono1-16", "mono2-12", "mono1-12", "mono2-8"],
)
def test_full_image_keeps_stored_values_without_voi(
    films, tmp_path, pixels, bits, photometric, expected
):
    path = films.write_dicom(tmp_path / "f.dcm", pixels, bits_stored=bits, photometric=photometric)
    film = read_film(path)
    assert film.bits == bits
    assert not film.windowed
    out = full_image(film)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, expected)


def test_every_16_bit_value_round_trips_through_the_png(films, tmp_path):
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    source = films.write_dicom(tmp_path / "all.dcm", values)
    job = ConvertJob(source, tmp_path / "images/a.png", tmp_path / "full/a.png", 64, 16)
    assert convert(job).reason == ""
    np.testing.assert_array_equal(read_png(job.full), values)


@pytest.mark.parametrize("signed", [False, True])
def test_bits_above_bits_stored_are_ignored(films, tmp_path, signed):
    stored = (RAMP12.astype(np.int16) - 2048) if signed else RAMP12
    raw = stored.astype(np.uint16) & 0x0FFF | 0x5000  # an overlay in bits 12 and 14
    pixels = raw.view(np.int16) if signed else raw
    film = read_film(films.write_dicom(tmp_path / "o.dcm", pixels, bits_stored=12))
    np.testing.assert_array_equal(film.values, stored)


def test_rescale_without_window_changes_nothing(films, tmp_path):
    ds = films.dataset(RAMP12, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = "2.5", "-1024"
    film = read_film(films.save(ds, tmp_path / "r.dcm"))
    np.testing.assert_array_equal(full_image(film), RAMP12)


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize(
    ("function", "centre", "width"),
    [("LINEAR", 1500.3, 2001.7), ("LINEAR_EXACT", 900.25, 1200.5), ("SIGMOID", 1000.0, 800.0)],
)
def test_window_with_rescale_matches_pydicom(films, tmp_path, photometric, function, centre, width):
    ds = films.dataset(RAMP12, bits_stored=12, photometric=photometric)
    ds.RescaleSlope, ds.RescaleIntercept = "0.75", "-100"
    ds.WindowCenter, ds.WindowWidth = centre, width
    ds.VOILUTFunction = function
    film = read_film(films.save(ds, tmp_path / "w.dcm"))
    assert film.windowed
    assert isinstance(film.intensity, TableMap if function == "SIGMOID" else LinearMap)
    # PS3.3 C.11.2.1.2: the window writes into the rescaled range of the stored values.
    expected = reference(ds, (-100.0, 4095 * 0.75 - 100))
    assert_rounds(full_image(film), expected)


def test_first_of_several_windows_is_used(films, tmp_path):
    ds = films.dataset(RAMP12, bits_stored=12)
    ds.WindowCenter, ds.WindowWidth = [2000.5, 500], [1001, 300]
    film = read_film(films.save(ds, tmp_path / "w.dcm"))
    assert_rounds(full_image(film), reference(ds, (0, 4095)))


def test_signed_pixels_with_window(films, tmp_path):
    pixels = (RAMP12.astype(np.int16) - 2048).astype(np.int16)
    ds = films.dataset(pixels, bits_stored=12)
    ds.RescaleSlope, ds.RescaleIntercept = "1", "0"
    ds.WindowCenter, ds.WindowWidth = -100.2, 1500.6
    film = read_film(films.save(ds, tmp_path / "s.dcm"))
    assert_rounds(full_image(film), reference(ds, (-2048, 2047)))


def test_voi_lut_sequence_matches_pydicom(films, tmp_path):
    ds = films.dataset(RAMP12, bits_stored=12)
    item = Dataset()
    item.add_new("LUTDescriptor", "US", [4096, 0, 16])
    curve = (np.sqrt(np.arange(4096) / 4095) * 65535).astype(np.uint16)
    item.add_new("LUTData", "US", [int(v) for v in curve])
    ds.VOILUTSequence = DicomSequence([item])
    ds.WindowCenter, ds.WindowWidth = 100, 50  # the LUT takes precedence, as in pydicom
    film = read_film(films.save(ds, tmp_path / "lut.dcm"))
    assert isinstance(film.intensity, TableMap)
    assert_rounds(full_image(film), reference(ds, (0, 65535)))


def test_rle_compressed_film_decodes_to_the_same_values(films, tmp_path):
    pixels = films.chest(seed=3)
    plain = read_film(films.write_dicom(tmp_path / "plain.dcm", pixels, bits_stored=12))
    rle = read_film(
        films.save(films.dataset(pixels, bits_stored=12), tmp_path / "rle.dcm", rle=True)
    )
    np.testing.assert_array_equal(full_image(rle), full_image(plain))
    np.testing.assert_array_equal(full_image(rle), pixels)


def test_header_reads_only_the_keys(films, tmp_path):
    path = films.write_dicom(
        tmp_path / "h.dcm", RAMP12, patient_id=" 0042 ", accession="ACC9", study_uid="1.2.9"
    )
    header = read_header(path)
    assert header == dicomio.Header("0042", "ACC9", "1.2.9", "20200101")
    assert "Zhang" not in repr(header)


def _reason(path: Path) -> str:
    with pytest.raises(FilmError) as caught:
        read_film(path)
    return caught.value.reason


def test_junk_is_not_dicom(tmp_path):
    path = tmp_path / "junk.dcm"
    path.write_bytes(b"not a dicom file at all" * 20)
    assert _reason(path) == dicomio.NOT_DICOM
    with pytest.raises(FilmError):
        read_header(path)
    assert dicomio.header_or_reason(path) == dicomio.NOT_DICOM


def test_truncated_pixel_data_is_reported_as_truncated(films, tmp_path):
    path = films.write_dicom(tmp_path / "t.dcm", RAMP16)
    path.write_bytes(path.read_bytes()[:-1000])
    assert _reason(path) == dicomio.TRUNCATED
    assert dicomio.header_or_reason(path) == dicomio.TRUNCATED  # not "missing AccessionNumber"


def test_dicom_without_pixels_is_not_an_image(films, tmp_path):
    ds = films.dataset(RAMP16)
    del ds.PixelData
    assert _reason(films.save(ds, tmp_path / "sr.dcm")) == dicomio.NO_PIXELS


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL", "PALETTE COLOR"])
def test_colour_photometric_is_refused(films, tmp_path, photometric):
    ds = films.dataset(RAMP16, photometric=photometric)
    assert _reason(films.save(ds, tmp_path / "c.dcm")) == photometric_reason(photometric)


def test_multi_frame_is_refused(films, tmp_path):
    path = films.write_dicom(tmp_path / "mf.dcm", np.stack([RAMP16, RAMP16, RAMP16]))
    assert _reason(path) == multi_frame_reason(3)


def test_transfer_syntax_without_decoder(films, tmp_path):
    ds = films.dataset(RAMP16)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2, no decoder exists
    ds.PixelData = encapsulate([bytes(64)])
    path = films.save(ds, tmp_path / "mpeg.dcm")
    assert _reason(path) == no_decoder_reason("MPEG2 Main Profile / Main Level")


def test_decoder_whose_plugins_are_missing(films, tmp_path, monkeypatch):
    class Unavailable:
        is_available = False

    monkeypatch.setattr(dicomio, "get_decoder", lambda uid: Unavailable())
    path = films.write_dicom(tmp_path / "f.dcm", RAMP16)
    assert _reason(path) == no_decoder_reason("Explicit VR Little Endian")


def test_32_bit_pixels_are_refused(films, tmp_path):
    path = films.write_dicom(tmp_path / "f.dcm", RAMP16.astype(np.uint32))
    assert _reason(path) == bits_reason(32)


def test_invalid_window_width(films, tmp_path):
    ds = films.dataset(RAMP16)
    ds.WindowCenter, ds.WindowWidth = 100, 0.5  # LINEAR needs a width of at least 1
    assert _reason(films.save(ds, tmp_path / "w.dcm")) == dicomio.BAD_VOI


def test_grey_png_and_16_bit_png(films, tmp_path):
    grey = (RAMP12 // 16).astype(np.uint8)
    film = read_film(films.write_png(tmp_path / "g.png", grey))
    assert (film.bits, film.windowed) == (8, True)
    np.testing.assert_array_equal(full_image(film), grey)
    film16 = read_film(films.write_png(tmp_path / "g16.png", RAMP16))
    assert film16.bits == 16
    np.testing.assert_array_equal(full_image(film16), RAMP16)


def test_rgb_with_equal_channels_is_grey(films, tmp_path):
    grey = (RAMP12 // 16).astype(np.uint8)
    film = read_film(films.write_png(tmp_path / "rgb.png", np.stack([grey] * 3, axis=-1)))
    np.testing.assert_array_equal(full_image(film), grey)


def test_rgb_with_different_channels_is_refused(films, tmp_path):
    grey = (RAMP12 // 16).astype(np.uint8)
    colour = np.stack([grey, grey, 255 - grey], axis=-1)
    assert _reason(films.write_png(tmp_path / "c.png", colour)) == dicomio.COLOUR


def test_grey_jpeg_saved_as_rgb(tmp_path):
    grey = np.repeat((RAMP12 // 16).astype(np.uint8), 2, axis=1)
    path = tmp_path / "x.jpg"
    from PIL import Image

    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(path, quality=95)
    film = read_film(path)
    assert np.abs(full_image(film).astype(int) - grey).max() <= 8  # JPEG is lossy


def test_unreadable_png(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert _reason(path) == dicomio.NOT_RASTER


def test_stretch_when_no_window():
    values = np.array([[1000, 2000], [3000, 1500]], dtype=np.uint16)
    film = dicomio.Film(values, 12, LinearMap(1 / 4095, 0.0), windowed=False)
    contrast = film.contrast()
    np.testing.assert_allclose(contrast(values, np.float64), [[0, 0.5], [1, 0.25]], atol=1e-12)
    flat = dicomio.Film(np.full((2, 2), 7, np.uint16), 12, LinearMap(1 / 4095, 0.0), False)
    assert float(flat.contrast()(flat.values).max()) == 0.0


def test_table_map_stretch_uses_present_values():
    table = np.linspace(0, 1, 256)
    film = dicomio.Film(np.array([[10, 20]], np.uint8), 8, TableMap(table), windowed=False)
    np.testing.assert_allclose(film.contrast()(film.values, np.float64), [[0, 1]])


def test_levels_round_half_up():
    values = np.array([[1, 3, 5, 7]], np.uint16)
    levels = LinearMap(0.125, 0.0).levels(values, 4, np.uint8, np.float64)
    np.testing.assert_array_equal(levels, [[1, 2, 3, 4]])  # 0.5, 1.5, 2.5, 3.5

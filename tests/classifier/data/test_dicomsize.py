"""Issue 13 (low): a DICOM claiming huge dimensions (a Deflate file of 20000² zeros inflates to
800 MB from 800 KB) is refused from its header, before its pixels are decoded or inflated: an
error row in errors.csv, and the build goes on."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from classifier.data import dicomio
from classifier.data.build import BuildConfig, build
from classifier.data.dicomsize import MAX_PIXELS, size_reason
from tests.classifier.data.test_build import make_folder

SIDE = 20_000
BOMB_REASON = "image too large (20000×20000 pixels; the limit is 50,000,000 pixels)"


def write_deflated_bomb(films, path: Path, side: int = SIDE) -> Path:
    """A Deflate-transfer-syntax DX film of side² 16-bit zeros, compressed in chunks."""
    ds = films.dataset(np.zeros((2, 2), np.uint16))
    del ds.PixelData
    ds.Rows = ds.Columns = side
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, ds)
    length = side * side * 2
    head = body.getvalue() + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length)
    deflater = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    meta = DicomBytesIO()
    write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
    zeros = bytes(2**24)
    with path.open("wb") as out:
        out.write(b"\0" * 128 + b"DICM" + meta.getvalue() + deflater.compress(head))
        for _ in range(length // len(zeros)):
            out.write(deflater.compress(zeros))
        out.write(deflater.compress(bytes(length % len(zeros))) + deflater.flush())
    return path


def test_low_deflate_dicom_bomb_refused_from_header_with_small_peak(films, tmp_path) -> None:
    bomb = write_deflated_bomb(films, tmp_path / "bomb.dcm")
    assert bomb.stat().st_size < 8_000_000  # 800 MB of pixels inflated
    tracemalloc.start()
    try:
        with pytest.raises(dicomio.FilmError) as caught:
            dicomio.read_film(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason == BOMB_REASON
    assert peak < 16 * 2**20, f"peak {peak:,} bytes"


def test_low_dicom_bomb_uncompressed_header_and_small_film(films, tmp_path) -> None:
    ds = films.dataset(np.zeros((2, 2), np.uint16))
    ds.Rows = ds.Columns = SIDE  # claimed; its pixel data is 8 bytes
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = films.save(ds, tmp_path / "claims.dcm")
    with pytest.raises(dicomio.FilmError) as caught:
        dicomio.read_film(path)
    assert caught.value.reason == BOMB_REASON
    assert size_reason(films.dataset(np.zeros((7071, 7071), np.uint8))) == ""
    assert MAX_PIXELS == 50_000_000
    small = write_deflated_bomb(films, tmp_path / "small.dcm", side=64)
    film = dicomio.read_film(small)  # a deflated film under the limit still reads
    assert film.values.shape == (64, 64)


def test_low_dicom_bomb_is_an_error_row_and_build_goes_on(films, tmp_path) -> None:
    images, labels = make_folder(films, tmp_path, patients=6)
    write_deflated_bomb(films, images / "bomb.dcm")
    config = BuildConfig(
        images=images, labels=labels, out=tmp_path / "data", size=16, split=(1.0, 0.0, 0.0)
    )
    result = build(config, progress=False)
    errors = pd.read_csv(config.out / "errors.csv")
    assert errors.loc[errors["file"] == "bomb.dcm", "reason"].tolist() == [BOMB_REASON]
    assert len(result.linking.films) >= 6 and (config.out / "manifest.csv").is_file()

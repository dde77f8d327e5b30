"""Refusing DICOM decompression bombs before their pixels are decoded.

A compressed (JPEG, RLE, Deflate) film can claim any size in its header: 20000 × 20000 16-bit
pixels are 800 MB decoded from a file of a few hundred KB. As PIL refuses such PNGs
(`Image.MAX_IMAGE_PIXELS`), a film whose Rows × Columns × frames × samples exceeds
`MAX_PIXELS`, or whose pixel data is longer than that many 16-bit values, is refused from its
header. A Deflate-transfer-syntax file is compressed as a whole, and pydicom inflates all of it
in `dcmread`: its header is read through a stream inflated only as far as the pixel data, never
more than `HEADER_LIMIT` bytes.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_dataset, read_preamble
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian

MAX_PIXELS = 50_000_000  # 7071², far above any radiograph (≈ 4300²)
MAX_PIXEL_BYTES = MAX_PIXELS * 2  # 16 bits allocated at most
HEADER_LIMIT = 64 * 2**20  # inflated bytes before the pixel data of a deflated file
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_CHUNK = 2**16
_UNDEFINED_LENGTH = 0xFFFFFFFF


class TooLargeError(ValueError):
    """A film over the limits, or a deflated header that inflates past `HEADER_LIMIT`."""


def too_large_reason(rows: int, columns: int, frames: int) -> str:
    shape = f"{rows}×{columns}" + (f"×{frames} frames" if frames > 1 else "")
    return f"image too large ({shape} pixels; the limit is {MAX_PIXELS:,} pixels)"


def size_reason(ds: Dataset, pixel_bytes: int | None = None) -> str:
    """Why the film in `ds` is too large to decode, or "" when it is not."""
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if rows * columns * max(frames, 1) * max(samples, 1) > MAX_PIXELS:
        return too_large_reason(rows, columns, frames)
    if pixel_bytes is not None and pixel_bytes != _UNDEFINED_LENGTH:
        if pixel_bytes > MAX_PIXEL_BYTES:
            return f"pixel data too large ({pixel_bytes:,} bytes; the limit is {MAX_PIXEL_BYTES:,})"
    return ""


class _Inflating(io.RawIOBase):
    """The inflated dataset of a deflated file, inflated only as far as it is read."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw, self._limit = raw, limit
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._data = bytearray()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _fill(self, end: int) -> None:
        while len(self._data) < end and not self._inflater.eof:
            room = self._limit - len(self._data)
            if room <= 0:
                raise TooLargeError(f"header inflates past {self._limit:,} bytes")
            data = self._inflater.unconsumed_tail or self._raw.read(_CHUNK)
            if not data:
                return
            wanted = min(room, max(end - len(self._data), _CHUNK))
            self._data += self._inflater.decompress(data, wanted)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        self._fill(self._pos + len(buffer))
        chunk = self._data[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            self._fill(self._limit + 1)
            base = len(self._data)
        else:
            base = self._pos if whence == io.SEEK_CUR else 0
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def is_deflated(path: Path) -> bool:
    with path.open("rb") as fp:
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
    return meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian


def deflated_size_reason(path: Path) -> str:
    """`size_reason` of a deflated file, from its header inflated as far as the pixel data."""
    seen: dict[str, int] = {}

    def at_pixels(tag: BaseTag, _vr: str | None, length: int) -> bool:
        if int(tag) in PIXEL_TAGS:
            seen["length"] = length
            return True
        return False

    with path.open("rb") as fp:
        read_preamble(fp, False)
        _read_file_meta_info(fp)
        stream = _Inflating(fp, HEADER_LIMIT)
        try:
            ds = read_dataset(stream, False, True, stop_when=at_pixels, defer_size=4096)
        except TooLargeError as err:
            return f"DICOM header too large ({err})"
    return size_reason(ds, seen.get("length"))

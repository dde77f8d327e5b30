"""Reading films: DICOM (pydicom) or PNG/JPEG into stored values plus their display mapping.

A film's display image is `intensity(values)` in [0, 1], bright = dense. The mapping follows the
DICOM grayscale pipeline: modality rescale or LUT, then the VOI window or LUT, then MONOCHROME1
inversion. Linear pipelines (the usual DX/CR case) collapse to one scale and offset applied in
float32; anything non-linear (sigmoid window, LUT sequences) is evaluated once by pydicom, in
float64, over every possible stored value and then looked up. Either way the per-pixel work never
runs pydicom's float64 functions over a whole 2048² film.

Over 300 lines on purpose: the grayscale pipeline is one sequence (modality, VOI, photometric),
and its two map types, the DICOM reader and the PNG/JPEG reader all produce the one `Film`.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, UnidentifiedImageError
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import DeflatedExplicitVRLittleEndian

from classifier.data.dicomsize import deflated_size_reason, is_deflated, size_reason

RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})

NOT_DICOM = "not a DICOM file"
CORRUPT_HEADER = "corrupt DICOM header"
NO_PIXELS = "no pixel data (not an image)"
CORRUPT_PIXELS = "corrupt pixel data"
BAD_VOI = "invalid VOI window or LUT"
NOT_RASTER = "unreadable image file"
COLOUR = "colour image (RGB channels differ)"
TRUNCATED = "truncated DICOM file (it ends inside its data)"
SYMLINK_LOOP = "symlink loop (skipped)"
BROKEN_SYMLINK = "broken symlink: its target does not exist (skipped)"
NOT_REGULAR = "not a regular file, skipped"
# Values above this many bytes are not read while checking a file is whole (pixel data).
_DEFER_BYTES = 4096
_UNDEFINED_LENGTH = 0xFFFFFFFF
# Values per block when mapping a film block by block: 1 MiB of float32 stays in L2 cache.
_BLOCK_VALUES = 2**18
# JPEG's colour transform leaves grey pixels a level or two apart between channels.
GREY_TOLERANCE = 2


def photometric_reason(name: str) -> str:
    return f"unsupported photometric interpretation {name}"


def multi_frame_reason(frames: int) -> str:
    return f"multi-frame image ({frames} frames)"


def no_decoder_reason(transfer_syntax: str) -> str:
    return f"no pixel decoder for transfer syntax {transfer_syntax}"


def bits_reason(bits_allocated: int) -> str:
    return f"unsupported bits allocated {bits_allocated}"


def mode_reason(mode: str) -> str:
    return f"unsupported image mode {mode}"


class FilmError(Exception):
    """A file that cannot become a film; `reason` is what errors.csv shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileError:
    """One row of errors.csv: a source file (relative to the image folder) and why it failed."""

    file: str
    reason: str


@dataclass(frozen=True)
class Header:
    """The only header fields the toolkit reads; everything else in the DICOM is left behind."""

    patient_id: str
    accession: str
    study_uid: str
    study_date: str


@dataclass(frozen=True)
class LinearMap:
    """display = clip(scale * value + offset, 0, 1)."""

    scale: float
    offset: float

    def __call__(self, values: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
        out = np.multiply(values, dtype(self.scale), dtype=dtype)
        out += dtype(self.offset)
        return np.clip(out, 0, 1, out=out)

    def levels(
        self, values: np.ndarray, top: int, dtype: type[np.integer], work: type[np.floating]
    ) -> np.ndarray:
        """round(display x top) as integers.

        Worked in blocks of rows that fit in cache: the four float passes then cost about what
        one pass over the whole film would (2x faster on a 2048² film).
        """
        out = np.empty(values.shape, dtype)
        rows = max(1, _BLOCK_VALUES // max(1, values.shape[1]))
        block = np.empty((rows, values.shape[1]), work)
        scale, offset = work(self.scale * top), work(self.offset * top + 0.5)
        for start in range(0, values.shape[0], rows):
            part = block[: min(rows, values.shape[0] - start)]
            np.multiply(values[start : start + rows], scale, out=part, dtype=work)
            part += offset
            np.clip(part, 0, top, out=part)
            out[start : start + rows] = part  # the cast truncates, so x + 0.5 rounds half up
        return out

    def span(self, values: np.ndarray) -> tuple[float, float]:
        """The darkest and brightest display value the film actually uses."""
        ends = self(np.array([values.min(), values.max()]), np.float64)
        return float(ends.min()), float(ends.max())

    def stretched(self, low: float, high: float) -> LinearMap:
        """The same map with [low, high] spread over [0, 1]."""
        return LinearMap(self.scale / (high - low), (self.offset - low) / (high - low))


@dataclass(frozen=True, eq=False)
class TableMap:
    """display = table[value viewed as unsigned], one entry per possible stored value."""

    table: np.ndarray

    def __call__(self, values: np.ndarray, dtype: type[np.floating] = np.float32) -> np.ndarray:
        return self.table.astype(dtype)[self._index(values)]

    def levels(
        self, values: np.ndarray, top: int, dtype: type[np.integer], work: type[np.floating]
    ) -> np.ndarray:
        """As LinearMap.levels; the table is float64 already, whatever `work` asks for."""
        return np.floor(self.table * top + 0.5).astype(dtype)[self._index(values)]

    def span(self, values: np.ndarray) -> tuple[float, float]:
        used = np.bincount(self._index(values).ravel(), minlength=self.table.size) > 0
        return float(self.table[used].min()), float(self.table[used].max())

    def stretched(self, low: float, high: float) -> TableMap:
        return TableMap(np.clip((self.table - low) / (high - low), 0, 1))

    @staticmethod
    def _index(values: np.ndarray) -> np.ndarray:
        return values.view(np.dtype(f"u{values.dtype.itemsize}"))


@dataclass(frozen=True, eq=False)
class Film:
    """Stored pixel values and how they map to the display image.

    `bits` is the depth the full-resolution image keeps (Bits Stored; 8 or 16 for PNG/JPEG).
    `windowed` is False when no VOI told us the contrast; the training image is then stretched.
    """

    values: np.ndarray
    bits: int
    intensity: LinearMap | TableMap
    windowed: bool

    def contrast(self) -> LinearMap | TableMap:
        """The display map for training: the window, or a stretch over the film's own range."""
        if self.windowed:
            return self.intensity
        low, high = self.intensity.span(self.values)
        return self.intensity.stretched(low, high) if high > low else LinearMap(0.0, 0.0)


def is_raster(path: Path) -> bool:
    return path.suffix.lower() in RASTER_SUFFIXES


def read_header(path: Path) -> Header:
    bomb = _deflated_bomb(path)  # pydicom would inflate all of a deflated file to read its header
    if bomb:
        raise FilmError(bomb)
    ds = _dcmread(path, defer_size=_DEFER_BYTES)
    return Header(
        patient_id=_text(ds, "PatientID"),
        accession=_text(ds, "AccessionNumber"),
        study_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate"),
    )


def header_or_reason(path: Path) -> Header | str:
    """`read_header` for worker pools: a failure comes back as its reason string."""
    try:
        return read_header(path)
    except FilmError as err:
        return err.reason


def not_a_file_reason(path: Path) -> str:
    """Why `path` cannot be read as a film file, without opening it; "" for a regular file."""
    try:
        info = os.stat(path)  # follows symlinks
    except OSError as err:
        if err.errno == errno.ELOOP:
            return SYMLINK_LOOP
        if path.is_symlink() and isinstance(err, FileNotFoundError):
            return BROKEN_SYMLINK
        return f"unreadable file ({err.strerror or err})"
    if stat.S_ISREG(info.st_mode):
        return ""
    kind = (
        "FIFO"
        if stat.S_ISFIFO(info.st_mode)
        else "socket"
        if stat.S_ISSOCK(info.st_mode)
        else "device or other special file"
    )
    return f"{NOT_REGULAR} ({kind})"


def read_film(path: Path) -> Film:
    """A film file read as grey pixels; FilmError with the reason when it cannot be. A FIFO,
    socket or device is never opened (it could block or never end)."""
    reason = not_a_file_reason(Path(path))
    if reason:
        raise FilmError(reason)
    return _read_raster(path) if is_raster(path) else _read_dicom(path)


def _dcmread(path: Path, defer_size: int | None = None) -> Dataset:
    """The whole dataset (values over `defer_size` bytes left unread), checked to be whole:
    pydicom stops quietly where a cut-short file ends, which would look like missing fields."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, defer_size=defer_size)
    except InvalidDicomError as err:
        raise FilmError(NOT_DICOM) from err
    except OSError as err:
        raise FilmError(f"unreadable file ({err.strerror or err})") from err
    except Exception as err:  # pydicom raises many types on a damaged file; each is one bad film
        raise FilmError(CORRUPT_HEADER) from err
    if _cut_short(path, ds, [str(w.message) for w in caught]):
        raise FilmError(TRUNCATED)
    return ds


def _cut_short(path: Path, ds: Dataset, warned: list[str]) -> bool:
    """True when the file ends before its data does: no dataset after the file meta, an element
    whose stated length runs past the end, a partial element left over, or an encapsulated value
    without its delimiter. Read from the raw elements, before any is decoded."""
    if any(message.startswith("End of file reached") for message in warned):
        return True
    raws = list(ds._dict.values())  # noqa: SLF001 - raw elements keep their offsets
    if not raws:
        return True
    ends = [
        (raw.value_tell + raw.length, raw.length == _UNDEFINED_LENGTH)
        for raw in raws
        if getattr(raw, "value_tell", None) is not None
    ]
    meta = getattr(ds, "file_meta", None)
    deflated = meta is not None and meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    if not ends or deflated:
        return False  # decoded already, or offsets into the inflated data: nothing to measure
    size = path.stat().st_size
    defined = [end for end, undefined in ends if not undefined]
    if defined and max(defined) > size:
        return True
    last_end, last_undefined = ends[-1]
    return not last_undefined and last_end != size


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def _deflated_bomb(path: Path) -> str:
    """Why a deflated file is too large to inflate, from its header alone; "" when it is not
    deflated, not too large, or damaged (then `_dcmread` says how)."""
    try:
        return deflated_size_reason(path) if is_deflated(path) else ""
    except Exception:  # noqa: BLE001 - the full read below reports a damaged file
        return ""


def _read_dicom(path: Path) -> Film:
    bomb = _deflated_bomb(path)
    if bomb:
        raise FilmError(bomb)
    ds = _dcmread(path)
    if "PixelData" not in ds:
        raise FilmError(NO_PIXELS)
    too_large = size_reason(ds)
    if too_large:
        raise FilmError(too_large)
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax is None:
        raise FilmError(CORRUPT_HEADER)
    photometric = _text(ds, "PhotometricInterpretation").upper()
    if photometric not in ("MONOCHROME1", "MONOCHROME2") or ds.get("SamplesPerPixel", 1) != 1:
        raise FilmError(photometric_reason(photometric or "(missing)"))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise FilmError(multi_frame_reason(frames))
    if "BitsAllocated" not in ds or "BitsStored" not in ds:
        raise FilmError(CORRUPT_HEADER)
    bits_allocated = int(ds.BitsAllocated)
    if bits_allocated not in (8, 16):
        raise FilmError(bits_reason(bits_allocated))
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise FilmError(no_decoder_reason(syntax.name))
    # A read-only view of uncompressed data saves a copy; unused high bits are cleared below,
    # only when some value needs it.
    ds.pixel_array_options(correct_unused_bits=False, view_only=True)
    try:
        values = ds.pixel_array
    except Exception as err:  # decoders raise ValueError, RuntimeError, struct.error, ...
        raise FilmError(CORRUPT_PIXELS) from err
    if values.ndim != 2:
        raise FilmError(CORRUPT_PIXELS)
    values = _clear_unused_bits(values, ds)
    try:
        intensity, windowed = _intensity(ds)
    except (ValueError, NotImplementedError, IndexError, KeyError) as err:
        raise FilmError(BAD_VOI) from err
    return Film(values=values, bits=int(ds.BitsStored), intensity=intensity, windowed=windowed)


def _clear_unused_bits(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Bits above Bits Stored may hold overlays or junk (PS3.5 8.1.1). Checking the range takes
    one pass; pydicom's unconditional shift takes three and a copy, on every 12-bit film."""
    low, high = _stored_range(ds)
    unused = 8 * values.itemsize - int(ds.BitsStored)
    if unused <= 0 or (int(values.min()) >= low and int(values.max()) <= high):
        return values
    shifted = np.left_shift(values, unused)
    return np.right_shift(shifted, unused, out=shifted)  # arithmetic for signed: sign-extends


def _stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.BitsStored)
    if int(ds.PixelRepresentation) == 0:
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _first(value: object) -> float:
    """Centre and width may list alternative views; like pydicom, take the first."""
    if isinstance(value, MultiValue | list | tuple):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]


def _window(ds: Dataset) -> tuple[str, float, float] | None:
    """The first VOI window as (function, effective centre, effective width), or None."""
    if ds.get("WindowCenter") is None or ds.get("WindowWidth") is None:
        return None
    function = _text(ds, "VOILUTFunction").upper() or "LINEAR"
    centre, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    if function == "LINEAR":
        # PS3.3 C.11.2.1.2.1: the LINEAR window is defined on (centre - 0.5, width - 1).
        centre, width = centre - 0.5, width - 1
    return function, centre, width


def _intensity(ds: Dataset) -> tuple[LinearMap | TableMap, bool]:
    invert = _text(ds, "PhotometricInterpretation").upper() == "MONOCHROME1"
    has_voi_lut = bool(ds.get("VOILUTSequence"))
    window = None if has_voi_lut else _window(ds)
    linear = not ds.get("ModalityLUTSequence") and not has_voi_lut
    if linear and window is not None:
        function, _, width = window
        linear = function in ("LINEAR", "LINEAR_EXACT") and width > 0
    intensity = _linear(ds, window, invert) if linear else _table(ds, invert)
    return intensity, has_voi_lut or window is not None


def _linear(ds: Dataset, window: tuple[str, float, float] | None, invert: bool) -> LinearMap:
    if window is None:
        # No VOI: the modality output is linear in the stored value, so its full range maps to
        # [0, 1] whatever the rescale; MONOCHROME2 films then keep their stored values exactly.
        low, high = _stored_range(ds)
        scale, offset = 1 / (high - low), -low / (high - low)
    else:
        _, centre, width = window
        slope, intercept = _rescale(ds)
        scale, offset = slope / width, (intercept - centre) / width + 0.5
    return LinearMap(-scale, 1 - offset) if invert else LinearMap(scale, offset)


def _rescale(ds: Dataset) -> tuple[float, float]:
    if "RescaleSlope" in ds and "RescaleIntercept" in ds:
        return float(ds.RescaleSlope), float(ds.RescaleIntercept)
    return 1.0, 0.0


def _table(ds: Dataset, invert: bool) -> TableMap:
    """pydicom's own float64 pipeline, run once over every possible stored value."""
    itemsize = int(ds.BitsAllocated) // 8
    signed = int(ds.PixelRepresentation) == 1
    unsigned = np.arange(2 ** (8 * itemsize), dtype=f"u{itemsize}")
    domain = unsigned.view(f"i{itemsize}") if signed else unsigned
    modality = apply_modality_lut(domain, ds)
    display = apply_voi_lut(modality, ds)
    low, high = _output_range(ds)
    unit = np.clip((np.asarray(display, dtype=np.float64) - low) / (high - low), 0, 1)
    return TableMap(1 - unit if invert else unit)


def _output_range(ds: Dataset) -> tuple[float, float]:
    """The range the VOI stage writes into, as PS3.3 C.11 (and pydicom) define it."""
    if ds.get("VOILUTSequence"):
        return 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    low, high = _stored_range(ds)
    slope, intercept = _rescale(ds)
    return low * slope + intercept, high * slope + intercept


def _read_raster(path: Path) -> Film:
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                values = np.asarray(image).astype(np.uint16, copy=False)
                bits = 16
            elif mode in ("1", "L"):
                values, bits = np.asarray(image.convert("L")), 8
            elif mode in ("P", "LA", "RGB", "RGBA"):
                values, bits = _grey_from_rgb(np.asarray(image.convert("RGB"))), 8
            else:
                raise FilmError(mode_reason(mode))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise FilmError(NOT_RASTER) from err
    # PNG/JPEG pixels are already display values: no window, no stretch.
    identity = LinearMap(1 / (2**bits - 1), 0.0)
    return Film(values=values, bits=bits, intensity=identity, windowed=True)


def _grey_from_rgb(rgb: np.ndarray) -> np.ndarray:
    channels = rgb.astype(np.int16)
    spread = channels.max(axis=2) - channels.min(axis=2)
    if spread.size and int(spread.max()) > GREY_TOLERANCE:
        raise FilmError(COLOUR)
    return np.rint(channels.mean(axis=2)).astype(np.uint8)

"""Output files: atomic writes and the PNG encode / validity check that make a build resumable."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# mkstemp creates files 0600; outputs should get the permissions any other new file would.
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and os.replace, so a reader or a rerun never sees
    half a file, whatever kills the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def encode_png(pixels: np.ndarray, compress_level: int = 6) -> bytes:
    """A greyscale PNG: 8-bit for uint8 pixels, 16-bit for uint16."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def png_mode(bit_depth: int) -> str:
    return "L" if bit_depth == 8 else "I;16"


def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def is_valid_png(path: Path, mode: str, size: tuple[int, int] | None = None) -> bool:
    """True when `path` is a complete PNG of this mode (and size, as width x height)."""
    try:
        with Image.open(path) as image:
            if image.format != "PNG" or image.mode != mode:
                return False
            if size is not None and image.size != size:
                return False
            image.verify()
    except (OSError, SyntaxError, ValueError):
        return False
    return True

"""Output files: atomic writes and the PNG encode / validity check that make a build resumable."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from toolkit.files import write_bytes_atomic, write_text_atomic  # noqa: F401 - re-exported

# The project's one atomic writer (toolkit/files.py), under the names this package uses.
write_atomic = write_bytes_atomic


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

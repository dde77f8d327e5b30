"""DICOM -> 256² PNG throughput (see shared/performance-targets.md, "Images").

    .venv/bin/python benchmarks/bench_dicom.py [--films 120] [--workers 1,2]

Writes `--films` uncompressed 2048x2048 16-bit DX films (12 bits stored, a VOI window, as CR/DX
films usually come) into a temp folder, then times, on the same files:
  - dcmread + pixel_array alone (the floor any converter pays),
  - the hand-written baseline: float32 window + PIL resize to 256 (with PIL's reducing_gap, as
    Image.thumbnail does), no PNG,
  - classifier.data.convert (the code `cxrclf dataset build` runs): window, letterbox, 8-bit PNG
    written atomically, with 1 and 2 worker processes.
Files are read from the page cache (they were just written), as on a rerun or a fast SSD. Pool
start-up is excluded: it is paid once per build, not per film.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from classifier.data.convert import ConvertJob, convert

SIDE = 2048


def film(seed: int) -> np.ndarray:
    """A smooth 12-bit 'chest' with detector noise: compresses and resamples like a real film."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    body = np.exp(-(((x - 0.5) / 0.35) ** 2) - ((y - 0.55) / 0.4) ** 2)
    lungs = np.exp(-(((np.abs(x - 0.5) - 0.18) / 0.1) ** 2) - ((y - 0.45) / 0.2) ** 2)
    values = 300 + 3000 * body - 1200 * lungs + rng.normal(0, 40, (SIDE, SIDE))
    return np.clip(values, 0, 4095).astype(np.uint16)


def write_film(path: Path, pixels: np.ndarray, index: int) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.AccessionNumber = f"P{index}", f"A{index}"
    ds.Rows = ds.Columns = SIDE
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.WindowCenter, ds.WindowWidth = 2000, 3600
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def read_only(path: Path) -> None:
    pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is the work measured


def hand_baseline(path: Path) -> None:
    ds = pydicom.dcmread(path)
    values = ds.pixel_array.astype(np.float32)
    low = float(ds.WindowCenter) - float(ds.WindowWidth) / 2
    unit = np.clip((values - low) / float(ds.WindowWidth), 0, 1)
    Image.fromarray(unit).resize((256, 256), Image.Resampling.BILINEAR, reducing_gap=2.0)


def rate(
    fn: Callable[[object], object], items: Sequence[object], workers: int, warmup: Sequence[object]
) -> float:
    if workers == 1:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return len(items) / (time.perf_counter() - start)
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(fn, warmup))  # start the workers and import everything
        start = time.perf_counter()
        list(pool.map(fn, items, chunksize=4))
        return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--films", type=int, default=120)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bases = [film(seed) for seed in range(4)]
        paths = []
        for i in range(args.films):
            path = root / "dicom" / f"{i:05d}.dcm"
            path.parent.mkdir(exist_ok=True)
            write_film(path, bases[i % 4] ^ np.uint16(i % 7), i)
            paths.append(path)
        out = root / "data"
        jobs = [ConvertJob(p, out / f"images/{p.stem}.png", None, 256, 8) for p in paths]
        print(f"{args.films} films, {SIDE}x{SIDE} uint16 (12 bits stored), uncompressed")
        print("| what | workers | films/s | films/s per worker |")
        print("|---|---:|---:|---:|")
        for name, fn, items in (
            ("dcmread + pixel_array only", read_only, paths),
            ("float32 window + PIL resize by hand, no PNG", hand_baseline, paths),
        ):
            measured = rate(fn, items, 1, [])
            print(f"| {name} | 1 | {measured:.0f} | {measured:.0f} |")
        for workers in (int(w) for w in args.workers.split(",")):
            for job in jobs:
                job.image.unlink(missing_ok=True)
            warmup = [ConvertJob(paths[0], out / f"warm/{i}.png", None, 256, 8) for i in range(8)]
            measured = rate(convert, jobs, workers, warmup)
            print(
                f"| classifier.data.convert -> 256² 8-bit PNG | {workers} | {measured:.0f} | "
                f"{measured / workers:.0f} |"
            )


if __name__ == "__main__":
    main()

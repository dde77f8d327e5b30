"""Item 9 of issue 13 for `cxrclf dataset build --workers 2`: SIGKILL of the main process leaves
no worker running; SIGTERM leaves no worker and no temporary file, and exits 143."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.classifier.conftest import write_dicom, write_labels
from tests.support import children, gone_within

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
CLF = "import sys; from cli.clf import main; sys.exit(main())"


def _start(tmp_path: Path) -> tuple[subprocess.Popen, list[int], Path]:
    """A build of 3000 films (links to one 768² DICOM) killed while both workers convert."""
    images = tmp_path / "images"
    rng = np.random.default_rng(0)
    one = write_dicom(images / "0000.dcm", rng.integers(0, 4096, (768, 768), dtype=np.uint16))
    for i in range(1, 3000):
        (images / f"{i:04d}.dcm").symlink_to(one)
    labels = write_labels(tmp_path / "labels.csv", {"A001": (1, 0, 0, 0, 0)})
    out = tmp_path / "data"
    args = ["dataset", "build", "--images", str(images), "--labels", str(labels)]
    args += ["-o", str(out), "--workers", "2", "--size", "512", "--bit-depth", "16"]
    args += ["--split", "1,0,0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", CLF, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        converted = len(list((out / "images").glob("*.png"))) if (out / "images").is_dir() else 0
        if len(workers) == 2 and converted > 20:
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(workers) == 2, "build ended before it was killed"
    return proc, workers, out


def _temporary(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob(".*.tmp"))


def test_item9_sigkill_of_a_two_worker_build_leaves_no_worker_running(tmp_path: Path) -> None:
    proc, workers, _ = _start(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    survivors = gone_within(workers, 5)
    for pid in survivors:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


def test_item9_sigterm_of_a_two_worker_build_leaves_no_worker_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    proc, workers, out = _start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert gone_within(workers, 5) == []
    assert _temporary(out) == []

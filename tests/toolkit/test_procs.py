"""Killing `cxrlabel extract --workers 2` as a scheduler does: SIGKILL leaves no worker running,
SIGTERM leaves no worker and no temporary file."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import children, gone_within

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXTRACT = "import sys; from cli.label import main; sys.exit(main())"


def _corpus(path: Path, n: int = 60000) -> Path:
    """Unique reports, so no cache makes the run short."""
    rng = random.Random(0)
    parts = [
        "两肺纹理增多",
        "心影增大",
        "主动脉迂曲",
        "右下肺见斑片影{}",
        "膈面光整",
        "第{}肋骨骨折",
    ]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(n):
            parts = rng.sample(parts, len(parts))
            writer.writerow([f"R{i}", "，".join(p.format(rng.randint(1, 10**6)) for p in parts)])
    return path


def _start(tmp_path: Path) -> tuple[subprocess.Popen, list[int], Path]:
    src = _corpus(tmp_path / "reports.csv")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            EXTRACT,
            "extract",
            str(src),
            "-o",
            str(out / "labels.csv"),
            "--evidence",
            str(out / "evidence.jsonl"),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    workers: list[int] = []
    # wait until both workers run and the temporary outputs exist
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        if len(workers) == 2 and out.is_dir() and len(list(out.glob(".*.tmp"))) == 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None and len(workers) == 2, "extract ended before it was killed"
    return proc, workers, out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_a_two_worker_extract_leaves_no_worker_running(tmp_path):
    proc, workers, _ = _start(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    survivors = gone_within(workers, 5)
    for pid in survivors:  # do not leave them behind for the next test
        os.kill(pid, signal.SIGKILL)
    assert survivors == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigterm_of_a_two_worker_extract_leaves_no_worker_and_no_temporary_file(tmp_path):
    proc, workers, out = _start(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 128 + signal.SIGTERM
    assert gone_within(workers, 5) == []
    assert sorted(p.name for p in out.iterdir()) == []

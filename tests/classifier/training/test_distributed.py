"""torchrun with two CPU processes (gloo): DDP training, rank-0-only writes, exact resume."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from classifier.demo.data import write_demo
from classifier.models import checkpoint
from classifier.training import distributed

# Each rank runs the CLI three times in one launch (starting torch twice per launch is what
# costs time): a 2-epoch run, a 1-epoch run, and that run extended to 2 epochs by --resume.
DRIVER = textwrap.dedent(
    """
    import sys

    import torch.distributed as dist
    import yaml

    from cli.clf import main

    manifest, out = sys.argv[1:3]
    small = ["--arch", "mobilenet_v2", "--resize", "36", "--crop", "32", "--batch-size", "8",
             "--workers", "0", "--device", "cpu", "--quiet", "--lr-decay", "0.9"]
    dist.init_process_group("gloo")
    for run, epochs in (("whole", "2"), ("cut", "1")):
        main(["train", "--manifest", manifest, "-o", f"{out}/{run}", "--epochs", epochs, *small],
             standalone_mode=False)
    if dist.get_rank() == 0:
        config = f"{out}/cut/config.yaml"
        values = yaml.safe_load(open(config))
        values["epochs"] = 2
        open(config, "w").write(yaml.safe_dump(values))
    dist.barrier()
    main(["train", "--resume", "-o", f"{out}/cut"], standalone_mode=False)
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:validation has only one class")
def test_two_processes_train_write_once_and_resume_exactly(tmp_path: Path) -> None:
    manifest = write_demo(tmp_path / "demo", n_films=48, size=40)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(driver), str(manifest), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    # Only rank 0 reports: one line per CLI call.
    assert done.stdout.count("done after") == 3, done.stdout

    for run in ("whole", "cut"):
        folder = tmp_path / run
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["best.pt", "config.yaml", "history.csv", "last.pt", "tensorboard"] or (
            names == ["best.pt", "config.yaml", "history.csv", "last.pt"]
        )
        rows = list(csv.DictReader((folder / "history.csv").open()))
        assert [r["epoch"] for r in rows] == ["1", "2"]
        last = checkpoint.load(folder / "last.pt")
        # Both ranks' weights hashed after the last epoch: the replicas are identical, and
        # identical to what rank 0 saved.
        sums = last.train_state["replica_sha256"]
        assert len(sums) == 2 and sums[0] == sums[1] == distributed.checksum(last.model)
        assert len(last.train_state["rng_ranks"]) == 2

    whole = checkpoint.load(tmp_path / "whole" / "last.pt").model
    cut = checkpoint.load(tmp_path / "cut" / "last.pt").model
    for key, value in whole.items():
        assert torch.equal(value, cut[key]), key


def test_outside_torchrun_there_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.from_env() == distributed.Group()
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    group = distributed.from_env()
    assert group.active and not group.main and (group.rank, group.local_rank) == (3, 1)


def test_checksum_sees_one_changed_bit() -> None:
    state = {"w": torch.ones(3), "n": torch.tensor(0)}
    other = {"w": torch.ones(3), "n": torch.tensor(0)}
    assert distributed.checksum(state) == distributed.checksum(other)
    other["w"][1] = torch.nextafter(torch.tensor(1.0), torch.tensor(2.0))
    assert distributed.checksum(state) != distributed.checksum(other)

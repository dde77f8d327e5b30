"""Item 8 of issue 13 at the command line: a checkpoint with unusable metadata is one line
naming the file, exit 2, for predict, heatmap and evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from classifier.models import checkpoint as ckpt
from cli.clf import main
from tests.classifier.conftest import write_png

META = {
    "arch": "resnet34",
    "task": "regions",
    "epoch": 1,
    "metrics": {},
    "versions": {},
    "preprocessing": {
        "film": None,
        "resize": 60000,
        "crop": 224,
        "mean": [0.5],
        "std": [0.25],
        "labels": ["lungs"],
    },
}


@pytest.fixture
def bad_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    payload = {"format": ckpt.FORMAT, "format_version": 2, "meta": META, "model": {}}
    torch.save(payload, run / "best.pt")
    return run


@pytest.mark.parametrize("command", ["predict", "heatmap", "evaluate"])
def test_item8_out_of_range_checkpoint_is_one_line_for_every_command(
    bad_run: Path, tmp_path: Path, command: str
) -> None:
    film = write_png(tmp_path / "f.png", np.zeros((32, 32), np.uint8))
    best = bad_run / "best.pt"
    args = {
        "predict": ["predict", str(film), "--checkpoint", str(best), "-o", str(tmp_path / "p.csv")],
        "heatmap": ["heatmap", str(film), "--checkpoint", str(best), "-o", str(tmp_path / "h")],
        "evaluate": ["evaluate", str(bad_run), "--data", str(film)],
    }[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert f"Error: {best}: resize 60000 is outside 8..4096" in result.output
    assert "Traceback" not in result.output

"""Issue 13 (small datasets): predict says per region where its threshold came from, and
--confidence without a label tree gives the reason evaluate recorded."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from classifier.inference.calibration import Calibration
from classifier.inference.predict import (
    PredictError,
    prediction_table,
    thresholds_for,
    tree_for,
)
from classifier.inference.scoring import FileScores
from cli.clf import main

REGIONS = ("lungs", "heart")
TREE_ERROR = "region heart has one class in validation: no label tree"


def _clf() -> SimpleNamespace:
    return SimpleNamespace(regions=REGIONS, meta=SimpleNamespace(labels=REGIONS))


def test_threshold_source_per_region() -> None:
    calibration = Calibration("best.pt", "youden", {"lungs": 0.3, "heart": math.nan}, None)
    thresholds = thresholds_for(_clf(), calibration)
    assert thresholds.values == {"lungs": 0.3, "heart": 0.5}
    assert thresholds.sources == {"lungs": "validation (youden)", "heart": "default 0.5"}
    scored = FileScores((Path("a.png"),), np.array([[0.4, 0.45]]), ("",))
    table = prediction_table(_clf(), scored, thresholds)
    assert table["threshold_source"].tolist() == ["lungs: validation (youden); heart: default 0.5"]
    assert table[["lungs_abnormal", "heart_abnormal"]].values.tolist() == [[1, 0]]
    full = Calibration("best.pt", "youden", {"lungs": 0.3, "heart": 0.6}, None)
    assert thresholds_for(_clf(), full).source == "validation (youden)"
    assert thresholds_for(_clf(), None).sources == dict.fromkeys(REGIONS, "default 0.5")


def test_threshold_source_confidence_gives_recorded_reason(tmp_path: Path) -> None:
    calibration = Calibration("best.pt", "youden", {}, None, TREE_ERROR)
    where = tmp_path / "best.calibration.json"
    with pytest.raises(PredictError) as caught:
        tree_for(calibration, 0.9, where)
    assert str(caught.value) == f"--confidence: {where} has no label tree: {TREE_ERROR}"
    assert tree_for(calibration, None, where) is None

    where.write_text(json.dumps(calibration.to_dict()), encoding="utf-8")
    (tmp_path / "best.pt").write_bytes(b"never read: the calibration is refused first")
    (tmp_path / "f.png").write_bytes(b"")
    args = ["predict", str(tmp_path / "f.png"), "--checkpoint", str(tmp_path / "best.pt")]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "p.csv"), "--confidence", "0.9"])
    assert result.exit_code == 2
    assert result.output == (f"Error: --confidence: {where} has no label tree: {TREE_ERROR}\n")

"""`evaluate` on the demo run: every figure in metrics.json traced back to the scores, the
calibration saved beside the checkpoint, and clear errors for what cannot be evaluated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from classifier.evaluation.evaluate import (
    EvalConfig,
    evaluate,
    score_metrics,
)
from classifier.evaluation.metrics import ThresholdRule
from classifier.inference.calibration import read_calibration
from classifier.inference.labeltree import LabelTree
from classifier.inference.scoring import load_classifier, score_images
from classifier.models import checkpoint
from classifier.models.checkpoint import CheckpointError
from classifier.run import WINDOWING, FilmFormat, Preprocessing, calibration_path
from classifier.training.datasets import DataError, read_split
from labeler.packs import region_ids
from tests.conftest import DemoRun

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]


@pytest.fixture(scope="module")
def evaluated(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("eval")
    evaluate(demo_run.run_dir, EvalConfig(split="test", out_dir=out, replicates=200))
    return json.loads((out / "metrics.json").read_text(encoding="utf-8")), out


def test_metrics_json_follows_from_the_scores(evaluated: tuple[dict, Path]) -> None:
    metrics, out = evaluated
    films = pd.read_csv(out / "predictions.csv")
    assert len(films) == metrics["films"] == 40  # 10% of the 400 demo films
    aucs = []
    for region in region_ids():
        row = metrics["regions"][region]
        y, s = films[region].to_numpy(), films[f"{region}_score"].to_numpy()
        assert row["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
        assert row["positives"] == y.sum() and row["negatives"] == len(y) - y.sum()
        assert row["ci_low"] <= row["auc"] <= row["ci_high"]
        called = s >= row["threshold"]
        assert row["tp"] == int((called & (y == 1)).sum())
        assert row["fp"] == int((called & (y == 0)).sum())
        assert row["sensitivity"] == pytest.approx(row["tp"] / y.sum(), abs=1e-6)
        aucs.append(row["auc"])
    assert metrics["mean_auc"] == pytest.approx(np.mean(aucs), abs=1e-6)
    assert metrics["rule"] == "youden" and metrics["replicates"] == 200
    for name in ("roc.png", "calibration.png"):
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.width > 300
    assert "| **mean** |" in (out / "metrics.md").read_text(encoding="utf-8")


def test_thresholds_and_label_tree_are_fitted_on_validation(
    demo_run: DemoRun, evaluated: tuple[dict, Path]
) -> None:
    metrics, _ = evaluated
    ckpt = demo_run.run_dir / "best.pt"
    calibration = read_calibration(ckpt)
    assert calibration is not None and calibration_path(ckpt).name == "best.calibration.json"
    assert isinstance(calibration.tree, LabelTree)
    val = read_split(demo_run.manifest, "val")
    scores = score_images(load_classifier(ckpt, "cpu"), val)
    for j, region in enumerate(region_ids()):
        chosen = ThresholdRule().choose(val.labels[:, j], scores[:, j])
        assert calibration.thresholds[region] == pytest.approx(chosen)
        assert metrics["regions"][region]["threshold"] == pytest.approx(chosen, abs=1e-6)


def test_score_metrics_on_fixed_data() -> None:
    y = np.array([[0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 0]], dtype=float)
    s = np.array([[0.2, 0.9], [0.7, 0.6], [0.1, 0.3], [0.4, 0.5], [0.5, 0.8], [0.9, 0.2]])
    patients = np.array(["p1", "p1", "p2", "p3", "p4", "p5"])
    results, mean, ci = score_metrics(y, s, patients, ("a", "b"), {"a": 0.5, "b": 0.55}, 300)
    assert [r.auc for r in results] == [roc_auc_score(y[:, 0], s[:, 0]), 1.0]
    assert results[0].point.tp == 2 and results[0].point.fp == 1  # 0.7, 0.9 vs 0.5
    assert mean == pytest.approx((results[0].auc + 1.0) / 2)
    assert ci.low <= mean <= ci.high and ci.replicates > 200


def test_one_class_region_has_no_auc_and_stays_out_of_the_mean() -> None:
    y = np.array([[0, 0], [1, 0], [0, 0], [1, 0]], dtype=float)
    s = np.array([[0.1, 0.2], [0.8, 0.3], [0.3, 0.9], [0.6, 0.1]])
    results, mean, _ = score_metrics(y, s, np.arange(4), ("a", "b"), {"a": 0.5, "b": 0.5}, 50)
    assert math.isnan(results[1].auc) and math.isnan(results[1].ci.low)
    assert mean == 1.0


def test_run_without_its_manifest_asks_for_data(demo_run: DemoRun, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.pt").write_bytes((demo_run.run_dir / "best.pt").read_bytes())
    (run / "config.yaml").write_text("data: /nowhere/manifest.csv\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"names the manifest /nowhere/manifest.csv.*--data"):
        evaluate(run)
    with pytest.raises(DataError, match=r"empty.*no such checkpoint"):
        (tmp_path / "empty").mkdir()
        evaluate(tmp_path / "empty")


def test_a_pretraining_checkpoint_is_not_a_region_classifier(tmp_path: Path) -> None:
    from classifier.models.registry import create_model

    model = create_model("resnet34", 14)
    labels = tuple(f"l{i}" for i in range(14))
    film = FilmFormat(1024, 8, WINDOWING, labels)
    prep = Preprocessing(film, 66, 64, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2), labels)
    meta = checkpoint.CheckpointMeta("resnet34", "chestx14", prep, 1)
    path = tmp_path / "nih.pt"
    checkpoint.save(path, checkpoint.Checkpoint(meta, model.state_dict()))
    with pytest.raises(CheckpointError, match=r"nih.pt is a chestx14 checkpoint"):
        load_classifier(path, "cpu")
    assert torch.load(path, weights_only=True)["meta"]["task"] == "chestx14"

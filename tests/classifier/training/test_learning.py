"""The demo phantoms are learnable: training reaches validation AUC ≥ 0.9 on every region, from
scratch and through the whole ChestX-14 transfer path (NIH-layout pretraining, then fine-tuning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.demo.data import write_nih_demo
from classifier.models import checkpoint
from classifier.training.config import TrainConfig
from classifier.training.loop import train
from labeler.packs import region_ids
from tests.conftest import DEMO_SMALL, DemoRun

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]


def _best_aucs(run: Path) -> dict[str, float]:
    metrics = checkpoint.load(run / "best.pt").meta.metrics
    return {r: metrics[f"auc_{r}"] for r in region_ids()}


def test_demo_phantoms_are_learned_from_scratch_and_by_transfer(
    tmp_path: Path, demo_run: DemoRun
) -> None:
    aucs = _best_aucs(demo_run.run_dir)
    assert min(aucs.values()) >= 0.9, aucs
    manifest = demo_run.manifest

    nih = write_nih_demo(tmp_path / "nih", n_films=60, size=128)
    pre = TrainConfig(data=str(nih), task="chestx14", epochs=1, **DEMO_SMALL)
    train(pre, tmp_path / "pre", progress=False)
    fine = TrainConfig(
        data=str(manifest),
        pretrain="chestx14",
        init=str(tmp_path / "pre" / "best.pt"),
        epochs=4,
        patience=2,
        **DEMO_SMALL,
    )
    train(fine, tmp_path / "fine", progress=False)
    aucs = _best_aucs(tmp_path / "fine")
    assert min(aucs.values()) >= 0.9, aucs

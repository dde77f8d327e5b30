"""The demo phantoms are learnable: training reaches validation AUC ≥ 0.9 on every region, from
scratch and through the whole ChestX-14 transfer path (NIH-layout pretraining, then fine-tuning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier import checkpoint
from classifier.config import TrainConfig
from classifier.demo import write_demo, write_nih_demo
from classifier.train import train
from labeler.packs import region_ids

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]

# ResNet34 learns these films in a few epochs; 64 px keeps it inside a CPU minute or two.
SMALL = dict(arch="resnet34", resize=66, crop=64, augment=False, lr_decay=0.9, workers=0)


def _best_aucs(run: Path) -> dict[str, float]:
    metrics = checkpoint.load(run / "best.pt").meta.metrics
    return {r: metrics[f"auc_{r}"] for r in region_ids()}


def test_demo_phantoms_are_learned_from_scratch_and_by_transfer(tmp_path: Path) -> None:
    manifest = write_demo(tmp_path / "demo", n_films=400, size=128)
    scratch = TrainConfig(data=str(manifest), epochs=4, patience=2, **SMALL)
    train(scratch, tmp_path / "scratch", progress=False)
    aucs = _best_aucs(tmp_path / "scratch")
    assert min(aucs.values()) >= 0.9, aucs

    nih = write_nih_demo(tmp_path / "nih", n_films=60, size=128)
    pre = TrainConfig(data=str(nih), task="chestx14", epochs=1, **SMALL)
    train(pre, tmp_path / "pre", progress=False)
    fine = TrainConfig(
        data=str(manifest),
        pretrain="chestx14",
        init=str(tmp_path / "pre" / "best.pt"),
        epochs=4,
        patience=2,
        **SMALL,
    )
    train(fine, tmp_path / "fine", progress=False)
    aucs = _best_aucs(tmp_path / "fine")
    assert min(aucs.values()) >= 0.9, aucs

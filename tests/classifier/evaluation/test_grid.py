"""The Table-2 grid on demo phantoms: two small networks × two regimes, every cell filled; cells
that cannot run are reported and the grid goes on; a second run resumes instead of retraining."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from classifier.demo.data import write_demo
from classifier.evaluation.grid import (
    DONE,
    FAILED,
    SKIPPED,
    Cell,
    CellResult,
    GridSpec,
    plan,
    render_markdown,
    run_grid,
    summarise,
)
from classifier.models import registry
from labeler.packs import region_ids

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]

SETTINGS = dict(resize=66, crop=64, augment=False, epochs=1, workers=0, batch_size=16)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("grid") / "demo", n_films=200, size=64)


def test_grid_fills_every_cell_and_resumes(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    archs = ("alexnet", "mobilenet_v2")
    for arch in archs:  # fake ImageNet files under torchvision's own names
        spec = registry.get_spec(arch)
        registry.imagenet_weight_path(spec).parent.mkdir(parents=True, exist_ok=True)
        torch.save(spec.build().state_dict(), registry.imagenet_weight_path(spec))
    # keep_last false (`grid --no-keep-last`): finished cells keep best.pt and a tiny last.pt.
    settings = SETTINGS | {"keep_last": False}
    spec = GridSpec(manifest, tmp_path / "grid", settings, bootstrap=50, paper=True)
    cells = plan(archs, ("none", "imagenet"), (0,))
    seen: list[CellResult] = []
    results = run_grid(spec, cells, seen.append)
    assert [r.cell.name for r in seen] == [
        "alexnet-none-seed0",
        "mobilenet_v2-none-seed0",
        "alexnet-imagenet-seed0",
        "mobilenet_v2-imagenet-seed0",
    ]
    assert all(r.status == DONE for r in results), [r.reason for r in results]
    table = pd.read_csv(tmp_path / "grid" / "grid.csv")
    assert table[["pretrain", "arch"]].values.tolist() == [
        ["none", "alexnet"],
        ["none", "mobilenet_v2"],
        ["imagenet", "alexnet"],
        ["imagenet", "mobilenet_v2"],
    ]
    for region in (*region_ids(), "mean"):
        assert table[f"{region}_auc"].between(0, 1).all()
    assert table["paper_mean"].tolist()[0] == 0.764  # AlexNet from scratch in Table 2
    assert math.isnan(table["paper_mean"].tolist()[1])  # MobileNetV2 is not in Table 2
    markdown = (tmp_path / "grid" / "grid.md").read_text(encoding="utf-8")
    assert "| from scratch | alexnet |" in markdown and "(0.764) | 1 |" in markdown
    assert "–" not in markdown
    for cell in cells:
        folder = tmp_path / "grid" / "cells" / cell.name
        assert (folder / "eval-test" / "metrics.json").is_file()
        assert (folder / "last.pt").stat().st_size < 20_000 < (folder / "best.pt").stat().st_size

    # Again: every run is finished, so nothing is trained and the figures are the same.
    mtime = (tmp_path / "grid" / "cells" / cells[0].name / "last.pt").stat().st_mtime_ns
    again = run_grid(spec, cells)
    assert [r.aucs for r in again] == [r.aucs for r in results]
    assert (tmp_path / "grid" / "cells" / cells[0].name / "last.pt").stat().st_mtime_ns == mtime


def test_cells_that_cannot_run_are_reported(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_home"))
    spec = GridSpec(manifest, tmp_path / "grid", SETTINGS, init_dir=tmp_path, bootstrap=10)
    results = run_grid(spec, plan(("alexnet",), ("imagenet", "chestx14"), (0,)))
    assert [r.status for r in results] == [SKIPPED, SKIPPED]
    assert "alexnet-owt-7be5be79.pth" in results[0].reason
    assert results[1].reason == f"no alexnet.pt or alexnet/best.pt in {tmp_path}"
    markdown = (tmp_path / "grid" / "grid.md").read_text(encoding="utf-8")
    assert (
        "| ImageNet | alexnet | – | – | – | – | – | – | 0 | skipped: ImageNet weights" in markdown
    )
    assert not (tmp_path / "grid" / "cells").exists()


def test_seeds_are_pooled_as_mean_and_std() -> None:
    def done(seed: int, value: float) -> CellResult:
        aucs = dict.fromkeys(region_ids(), value)
        return CellResult(Cell("resnet34", "none", seed), DONE, "", aucs, value)

    failed = CellResult(Cell("resnet34", "none", 2), FAILED, "loss is nan. More text")
    (row,) = summarise([done(0, 0.8), done(1, 0.9), failed], region_ids())
    assert row.seeds == 2 and row.means["mean"] == pytest.approx(0.85)
    assert row.stds["heart"] == pytest.approx(0.0707107, abs=1e-6)  # sample std of 0.8, 0.9
    text = render_markdown([row], region_ids(), paper=True)
    assert "| from scratch | resnet34 | 0.850 ± 0.071 (0.781) |" in text  # thorax
    assert "| 0.850 ± 0.071 (0.803) |" in text  # heart
    assert text.rstrip().endswith("| 0.850 ± 0.071 (0.800) | 2 | failed: loss is nan |")
    assert "mean ± std over seeds" in text

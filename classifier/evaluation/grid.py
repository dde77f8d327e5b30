"""`cxrclf grid`: the paper's Table 2, networks × pretraining regimes (× seeds), one command.

Folder layout under OUT: cells/<arch>-<regime>-seed<k>/ (a training run, resumed when present,
with its eval-test/ report), pretrain/<arch>/ (ChestX-14 pretraining when --nih-dir is given),
grid.md and grid.csv (rewritten after every cell, so a long grid shows its progress).

A cell that cannot run (ImageNet weights not on this machine, no ChestX-14 checkpoint, a training
failure) is reported in the table with its reason and the grid goes on. Seeds change the network
initialisation and batch order; the split is the manifest's and stays fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from classifier.data.manifest import manifest_format
from classifier.evaluation.evaluate import EvalConfig, evaluate
from classifier.files import write_text_atomic
from classifier.models.checkpoint import CheckpointError
from classifier.models.registry import MissingWeightsError
from classifier.models.statedict import KeyMismatchError
from classifier.run import BEST, LAST, RecordError, Task
from classifier.training.config import ConfigError, Regime, resolve
from classifier.training.datasets import DataError, read_split
from classifier.training.loop import TrainingError, resume, train

REGIME_TITLES = {
    Regime.NONE: "from scratch",
    Regime.IMAGENET: "ImageNet",
    Regime.CHESTX14: "ChestX-14",
}

# Paper 000, Table 2 (test AUC): thorax, lungs, aorta, heart, diaphragm, mean.
PAPER_TABLE2: dict[tuple[str, str], tuple[float, ...]] = {
    ("alexnet", "none"): (0.733, 0.698, 0.812, 0.791, 0.788, 0.764),
    ("vgg16", "none"): (0.748, 0.739, 0.832, 0.821, 0.812, 0.790),
    ("resnet34", "none"): (0.781, 0.763, 0.842, 0.803, 0.813, 0.800),
    ("densenet121", "none"): (0.745, 0.795, 0.839, 0.844, 0.822, 0.809),
    ("alexnet", "imagenet"): (0.772, 0.715, 0.895, 0.847, 0.849, 0.816),
    ("vgg16", "imagenet"): (0.801, 0.776, 0.909, 0.813, 0.804, 0.820),
    ("resnet34", "imagenet"): (0.741, 0.813, 0.845, 0.865, 0.831, 0.816),
    ("densenet121", "imagenet"): (0.746, 0.765, 0.842, 0.859, 0.826, 0.808),
    ("alexnet", "chestx14"): (0.784, 0.731, 0.887, 0.811, 0.837, 0.810),
    ("vgg16", "chestx14"): (0.799, 0.762, 0.912, 0.824, 0.817, 0.822),
    ("resnet34", "chestx14"): (0.751, 0.777, 0.920, 0.875, 0.846, 0.834),
    ("densenet121", "chestx14"): (0.804, 0.826, 0.898, 0.867, 0.826, 0.844),
}
PAPER_REGIONS = ("thorax", "lungs", "aorta", "heart", "diaphragm")

DONE = "done"
SKIPPED = "skipped"
FAILED = "failed"


@dataclass(frozen=True)
class Cell:
    arch: str
    regime: Regime
    seed: int

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.regime}-seed{self.seed}"


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    status: str  # DONE, SKIPPED (cannot run here) or FAILED
    reason: str = ""
    aucs: dict[str, float] = field(default_factory=dict)  # per region, on the test split
    mean_auc: float = math.nan


def plan(archs: Sequence[str], regimes: Sequence[str], seeds: Sequence[int]) -> list[Cell]:
    """Regime-major order, as Table 2 reads."""
    return [Cell(a, Regime(r), s) for r in regimes for a in archs for s in seeds]


@dataclass(frozen=True)
class GridSpec:
    manifest: Path
    out_dir: Path
    settings: dict[str, Any]  # config-file values and flags shared by every cell
    init_dir: Path | None = None  # <arch>.pt or <arch>/best.pt ChestX-14 checkpoints
    nih_dir: Path | None = None  # pretrain missing ChestX-14 checkpoints here
    bootstrap: int = 1000
    paper: bool = False  # show Table 2's figures beside ours
    progress: bool = False

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions the manifest carries (its record, manifest.json)."""
        try:
            return manifest_format(self.manifest).regions
        except (RecordError, ValueError) as exc:
            raise DataError(str(exc)) from exc


_CELL_ERRORS = (MissingWeightsError, CheckpointError, KeyMismatchError, TrainingError)


def _train_or_resume(settings: dict[str, Any], run_dir: Path, progress: bool) -> None:
    """Train a run, or continue it when run_dir holds one (a finished run returns at once)."""
    if (run_dir / LAST).exists():
        resume(run_dir, progress)
    else:
        train(resolve(None, **settings), run_dir, progress)


class _Grid:
    def __init__(self, spec: GridSpec) -> None:
        self.spec = spec
        shared = {k: v for k, v in spec.settings.items() if k not in ("weights", "init")}
        self.shared = shared | {"data": str(spec.manifest), "task": Task.REGIONS}
        self.inits: dict[str, Path | str] = {}  # arch -> checkpoint, or the reason there is none

    def chestx14_init(self, arch: str) -> Path | str:
        """The ChestX-14 checkpoint for `arch`, pretraining it first when --nih-dir is given;
        a string is the reason there is none."""
        if arch in self.inits:
            return self.inits[arch]
        found: Path | str = "no ChestX-14 checkpoint: give --init-dir (with <arch>.pt) or --nih-dir"
        if self.spec.init_dir is not None:
            for candidate in (self.spec.init_dir / f"{arch}.pt", self.spec.init_dir / arch / BEST):
                if candidate.is_file():
                    found = candidate
                    break
            else:
                found = f"no {arch}.pt or {arch}/{BEST} in {self.spec.init_dir}"
        if isinstance(found, str) and self.spec.nih_dir is not None:
            run_dir = self.spec.out_dir / "pretrain" / arch
            settings = self.shared | {
                "arch": arch,
                "pretrain": Regime.NONE,
                "data": str(self.spec.nih_dir),
                "task": Task.CHESTX14,
            }
            try:
                _train_or_resume(settings, run_dir, self.spec.progress)
                found = run_dir / BEST
            except (*_CELL_ERRORS, DataError, ConfigError) as exc:
                found = f"ChestX-14 pretraining failed: {exc}"
        self.inits[arch] = found
        return found

    def run_cell(self, cell: Cell) -> CellResult:
        settings = self.shared | {"arch": cell.arch, "pretrain": cell.regime, "seed": cell.seed}
        if cell.regime == Regime.CHESTX14:
            init = self.chestx14_init(cell.arch)
            if isinstance(init, str):
                return CellResult(cell, SKIPPED, init)
            settings["init"] = str(init)
        run_dir = self.spec.out_dir / "cells" / cell.name
        try:
            _train_or_resume(settings, run_dir, self.spec.progress)
            config = EvalConfig(self.spec.manifest, replicates=self.spec.bootstrap)
            result, _ = evaluate(run_dir, config)
        except MissingWeightsError as exc:
            _remove_if_empty(run_dir)
            return CellResult(cell, SKIPPED, str(exc))
        except (*_CELL_ERRORS, ConfigError) as exc:
            _remove_if_empty(run_dir)
            return CellResult(cell, FAILED, str(exc))
        aucs = {r.region: r.auc for r in result.regions}
        return CellResult(cell, DONE, "", aucs, result.mean_auc)


def _remove_if_empty(run_dir: Path) -> None:
    """A cell that failed before its first epoch leaves no folder that looks like a run."""
    if run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()
        if not any(run_dir.parent.iterdir()):
            run_dir.parent.rmdir()


def run_grid(
    spec: GridSpec,
    cells: Sequence[Cell],
    on_result: Callable[[CellResult], None] | None = None,
) -> list[CellResult]:
    """Run every cell in order; grid.md and grid.csv are rewritten after each one."""
    # A manifest that cannot be trained on fails the grid once, up front, not in every cell.
    for split in ("train", "val", "test"):
        read_split(spec.manifest, split)
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    grid = _Grid(spec)
    results: list[CellResult] = []
    for cell in cells:
        results.append(grid.run_cell(cell))
        write_tables(spec.out_dir, results, spec.regions, spec.paper)
        if on_result is not None:
            on_result(results[-1])
    return results


@dataclass(frozen=True)
class Row:
    """One (regime, arch) line of the table: seeds pooled."""

    regime: Regime
    arch: str
    seeds: int  # cells done
    means: dict[str, float]  # per region and "mean"
    stds: dict[str, float]
    notes: tuple[str, ...]  # why cells are missing


def summarise(results: Sequence[CellResult], regions: Sequence[str]) -> list[Row]:
    """One row per (regime, network), in the order first met; AUCs of the manifest's
    `regions` and their mean."""
    keys = list(dict.fromkeys((r.cell.regime, r.cell.arch) for r in results))
    rows = []
    for regime, arch in keys:
        mine = [r for r in results if (r.cell.regime, r.cell.arch) == (regime, arch)]
        done = [r for r in mine if r.status == DONE]
        names = (*regions, "mean")
        values = {
            n: np.array([r.mean_auc if n == "mean" else r.aucs[n] for r in done]) for n in names
        }
        means = {n: float(np.mean(v)) if len(v) else math.nan for n, v in values.items()}
        stds = {n: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan for n, v in values.items()}
        reasons = tuple(dict.fromkeys(f"{r.status}: {r.reason}" for r in mine if r.status != DONE))
        rows.append(Row(regime, arch, len(done), means, stds, reasons))
    return rows


def _paper(row: Row) -> dict[str, float]:
    figures = PAPER_TABLE2.get((row.arch, row.regime))
    if figures is None:
        return {}
    return dict(zip((*PAPER_REGIONS, "mean"), figures, strict=True))


def _cell_text(row: Row, name: str, paper: bool) -> str:
    if not row.seeds:
        return "–"
    text = f"{row.means[name]:.3f}"
    if not math.isnan(row.stds[name]):
        text += f" ± {row.stds[name]:.3f}"
    figure = _paper(row).get(name)
    if paper and figure is not None:
        text += f" ({figure:.3f})"
    return text


def render_markdown(rows: Sequence[Row], regions: Sequence[str], paper: bool) -> str:
    names = (*regions, "mean")
    title = "Test AUC per region"
    if paper:
        title += "; the paper's Table 2 figure in brackets"
    if any(r.seeds > 1 for r in rows):
        title += "; mean ± std over seeds"
    lines = [
        f"{title}.",
        "",
        "| pretraining | network | " + " | ".join(names) + " | runs | note |",
        "|---|---|" + "---:|" * len(names) + "---:|---|",
    ]
    for row in rows:
        cells = " | ".join(_cell_text(row, n, paper) for n in names)
        regime = REGIME_TITLES.get(row.regime, row.regime)
        # First sentences only: the whole reason (where to put a missing file) is in grid.csv.
        note = "; ".join(n.split(". ")[0] for n in row.notes)
        lines.append(f"| {regime} | {row.arch} | {cells} | {row.seeds} | {note} |")
    return "\n".join(lines) + "\n"


def table_frame(rows: Sequence[Row], paper: bool) -> pd.DataFrame:
    records = []
    for row in rows:
        record: dict[str, Any] = {"pretrain": str(row.regime), "arch": row.arch, "runs": row.seeds}
        for name, value in row.means.items():
            record[f"{name}_auc"] = value
            record[f"{name}_std"] = row.stds[name]
        if paper:
            record |= {f"paper_{name}": value for name, value in _paper(row).items()}
        record["note"] = "; ".join(row.notes)
        records.append(record)
    return pd.DataFrame.from_records(records)


def write_tables(
    out_dir: Path, results: Sequence[CellResult], regions: Sequence[str], paper: bool
) -> None:
    rows = summarise(results, regions)
    write_text_atomic(out_dir / "grid.md", render_markdown(rows, regions, paper))
    write_text_atomic(out_dir / "grid.csv", table_frame(rows, paper).to_csv(index=False))

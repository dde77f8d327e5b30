from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest
import torch

from classifier.demo.data import write_demo, write_nih_demo
from classifier.models import checkpoint, registry
from classifier.run import WINDOWING, FilmFormat, Preprocessing
from classifier.training.board import NOTICE
from classifier.training.config import TrainConfig
from classifier.training.datasets import FilmDataset, prepare_batch
from classifier.training.loop import TrainingError, TrainResult, resume, train
from classifier.training.losses import get_loss
from classifier.training.parts import build_model
from labeler.packs import region_ids

pytestmark = pytest.mark.filterwarnings("ignore:validation has only one class")

# Smallest input each network accepts: AlexNet's stride-4 11×11 stem and VGG's five poolings.
STEP_SIZE = {"alexnet": 64, "vgg16": 32}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo"), n_films=60, size=40)


@pytest.fixture(scope="module")
def nih(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_nih_demo(tmp_path_factory.mktemp("nih"), n_films=30, size=40)


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    (tmp_path / "torch_home" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "torch_home"


def _cfg(manifest: Path, **changes) -> TrainConfig:
    base = dict(
        data=str(manifest),
        arch="mobilenet_v2",
        resize=36,
        crop=32,
        batch_size=8,
        epochs=2,
        workers=0,
        lr_decay=0.9,
    )
    return TrainConfig(**(base | changes))


def _kill_in_epoch_two(monkeypatch: pytest.MonkeyPatch):
    """Make training stop as Ctrl-C would, at the start of epoch two; returns the real
    `set_epoch` to put back."""
    real = FilmDataset.set_epoch

    def killed_in_epoch_two(self: FilmDataset, epoch: int) -> None:
        if epoch == 1:
            raise KeyboardInterrupt
        real(self, epoch)

    monkeypatch.setattr(FilmDataset, "set_epoch", killed_in_epoch_two)
    return real


def _pretrained(arch: str, path: Path) -> None:
    spec = registry.get_spec(arch)
    labels = tuple(f"l{i}" for i in range(14))
    film = FilmFormat(1024, 8, WINDOWING, labels)
    prep = Preprocessing(film, 36, 32, spec.mean, spec.std, labels)
    meta = checkpoint.CheckpointMeta(arch=arch, task="chestx14", preprocessing=prep, epoch=1)
    state = registry.create_model(arch, 14).state_dict()
    checkpoint.save(path, checkpoint.Checkpoint(meta, state))


@pytest.mark.parametrize("regime", ["none", "imagenet", "chestx14"])
@pytest.mark.parametrize("arch", registry.arch_names())
def test_every_architecture_trains_a_step_in_every_regime(
    arch: str, regime: str, tmp_path: Path, torch_home: Path
) -> None:
    spec = registry.get_spec(arch)
    changes: dict = {"pretrain": regime}
    if regime == "imagenet":
        # A fake ImageNet file under torchvision's own name in a private TORCH_HOME.
        torch.save(spec.build().state_dict(), registry.imagenet_weight_path(spec))
    if regime == "chestx14":
        _pretrained(arch, tmp_path / "nih.pt")
        changes["init"] = str(tmp_path / "nih.pt")
    cfg = TrainConfig(arch=arch, **changes)
    n = len(region_ids())
    model = build_model(cfg, n)
    size = STEP_SIZE.get(arch, 32)
    x = prepare_batch(torch.rand(2, 1, size, size), spec.mean, spec.std)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    before = model.get_submodule(spec.first_conv).weight.detach().clone()
    loss = get_loss(cfg.loss)(model(x), torch.tensor([[1.0] * n, [0.0] * n]))
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    assert not torch.equal(before, model.get_submodule(spec.first_conv).weight)


def test_run_folder_holds_config_history_and_checkpoints(manifest: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = train(_cfg(manifest, aux_normal=True), run, progress=False)
    assert result.epochs_run == 2 and 1 <= result.best_epoch <= 2
    assert "arch: mobilenet_v2" in (run / "config.yaml").read_text()
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {f"auc_{r}" for r in region_ids()} | {"auc_normal", "val_mean_auc"} <= set(rows[0])
    best = checkpoint.load(run / "best.pt")
    assert best.meta.arch == "mobilenet_v2" and best.meta.task == "regions"
    assert best.meta.labels == (*region_ids(), "normal")
    assert (best.meta.input_size, best.meta.resize, best.meta.epoch) == (32, 36, result.best_epoch)
    assert best.meta.versions["torch"] == str(torch.__version__)
    assert not best.train_state
    assert checkpoint.load(run / "last.pt").train_state["epoch"] == 2
    with pytest.raises(TrainingError, match="already holds a run"):
        train(_cfg(manifest), run, progress=False)


def test_killed_run_resumes_to_the_same_weights(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MobileNetV2's dropout draws from the global RNG, which the resume has to restore.
    cfg = _cfg(manifest, epochs=3)
    train(cfg, tmp_path / "whole", progress=False)

    real = _kill_in_epoch_two(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", progress=False)
    monkeypatch.setattr(FilmDataset, "set_epoch", real)
    assert checkpoint.load(tmp_path / "cut" / "last.pt").train_state["epoch"] == 1
    resume(tmp_path / "cut", progress=False)

    whole = checkpoint.load(tmp_path / "whole" / "last.pt")
    cut = checkpoint.load(tmp_path / "cut" / "last.pt")
    assert whole.model.keys() == cut.model.keys()
    for key, value in whole.model.items():
        assert torch.equal(value, cut.model[key]), key

    def history(run: str) -> list[dict]:
        rows = list(csv.DictReader((tmp_path / run / "history.csv").open()))
        return [{k: v for k, v in r.items() if k != "train_img_per_s"} for r in rows]

    assert history("whole") == history("cut")


def test_early_stopping(manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A score that never improves after the first epoch.
    monkeypatch.setattr("classifier.training.loop.mean_auc", lambda aucs, names: 0.5)
    result = train(_cfg(manifest, epochs=5, patience=2), tmp_path / "r", progress=False)
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    assert resume(tmp_path / "r", progress=False).epochs_run == 3


def test_w_cel_on_a_batch_without_positives_stops_with_a_reason(
    manifest: Path, tmp_path: Path
) -> None:
    lines = manifest.read_text().splitlines()
    header = lines[0].split(",")
    columns = [header.index(r) for r in region_ids()]
    rows = []
    for line in lines[1:]:
        cells = line.split(",")
        for c in columns:
            cells[c] = "0"
        rows.append(",".join(cells))
    negative = manifest.parent / "negative.csv"
    negative.write_text("\n".join([lines[0], *rows]) + "\n")
    with pytest.raises(TrainingError, match="w-cel is undefined for a batch without positives"):
        train(_cfg(negative, loss="w-cel"), tmp_path / "w", progress=False)
    result = train(_cfg(negative, loss="cw-cel", epochs=1), tmp_path / "cw", progress=False)
    assert result.epochs_run == 1


def test_chestx14_pretraining_then_transfer(manifest: Path, nih: Path, tmp_path: Path) -> None:
    pre = train(_cfg(nih, task="chestx14", epochs=1), tmp_path / "pre", progress=False)
    meta = checkpoint.load(pre.run_dir / "best.pt").meta
    assert meta.task == "chestx14" and len(meta.labels) == 14
    cfg = _cfg(manifest, pretrain="chestx14", init=str(pre.run_dir / "best.pt"), epochs=1)
    assert train(cfg, tmp_path / "fine", progress=False).epochs_run == 1
    wrong = _cfg(manifest, arch="resnet34", pretrain="chestx14", init=cfg.init, epochs=1)
    with pytest.raises(checkpoint.CheckpointError, match="holds a mobilenet_v2 model"):
        train(wrong, tmp_path / "wrong", progress=False)


def test_tensorboard_scalars_per_epoch(manifest: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    train(_cfg(manifest), run, progress=False)
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {"loss/train", "loss/val", "auc/mean", "lr", "speed/train_img_per_s"}
    assert expected | {f"auc/{r}" for r in region_ids()} <= tags
    rows = list(csv.DictReader((run / "history.csv").open()))
    val = events.Scalars("loss/val")
    assert [e.step for e in val] == [1, 2]
    assert [e.value for e in val] == pytest.approx([float(r["val_loss"]) for r in rows])


def test_without_tensorboard_only_history_is_written_and_one_line_says_so(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    run = tmp_path / "run"
    train(_cfg(manifest, epochs=2), run, progress=False)
    assert (run / "history.csv").is_file() and not (run / "tensorboard").exists()
    notes = [line for line in capsys.readouterr().err.splitlines() if "tensorboard" in line]
    assert notes == [NOTICE]
    assert "pip install 'cxr-toolkit[tensorboard]'" in NOTICE


def test_no_keep_last_leaves_a_few_kilobytes_that_resume_reads(
    manifest: Path, tmp_path: Path
) -> None:
    kept = train(_cfg(manifest, epochs=2), tmp_path / "kept", progress=False)
    run = tmp_path / "pruned"
    result = train(_cfg(manifest, epochs=2, keep_last=False), run, progress=False)
    assert result == TrainResult(run, 2, result.best_epoch, result.best_score, False)
    last = checkpoint.load(run / "last.pt")
    assert last.model == {} and last.train_state["pruned"] is True
    size = (run / "last.pt").stat().st_size
    assert size < 20_000 < (kept.run_dir / "last.pt").stat().st_size
    best = checkpoint.load(run / "best.pt").model
    assert best.keys() == checkpoint.load(kept.run_dir / "best.pt").model.keys()
    # The run is finished: resume returns the same result at once, train refuses the folder.
    assert resume(run, progress=False) == result
    with pytest.raises(TrainingError, match="already holds a run"):
        train(_cfg(manifest, keep_last=False), run, progress=False)
    assert list(csv.DictReader((run / "history.csv").open()))[-1]["epoch"] == "2"


def test_no_keep_last_keeps_everything_of_an_interrupted_run(
    manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _kill_in_epoch_two(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(manifest, epochs=2, keep_last=False), tmp_path / "cut", progress=False)
    monkeypatch.setattr(FilmDataset, "set_epoch", real)
    last = checkpoint.load(tmp_path / "cut" / "last.pt")
    assert last.model and "optimizer" in last.train_state
    assert resume(tmp_path / "cut", progress=False).epochs_run == 2
    assert checkpoint.load(tmp_path / "cut" / "last.pt").model == {}

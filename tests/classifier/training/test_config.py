from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from classifier.run import Task
from classifier.training.config import ConfigError, Regime, TrainConfig, load_yaml, resolve

CONFIGS = sorted((Path(__file__).parents[3] / "configs").glob("*.yaml"))


def test_defaults_are_the_papers() -> None:
    cfg = TrainConfig()
    assert (cfg.lr, cfg.batch_size, cfg.lr_decay, cfg.loss, cfg.resize) == (
        1e-3,
        16,
        0.5,
        "bce",
        256,
    )
    assert TrainConfig(arch="alexnet").crop_size == 227
    assert TrainConfig(arch="resnet34").crop_size == 224


def test_flags_override_file_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("arch: resnet34\nlr: 0.01\nbatch_size: 8\n", encoding="utf-8")
    cfg = resolve(path, lr=0.5, batch_size=None)
    assert (cfg.arch, cfg.lr, cfg.batch_size, cfg.epochs) == ("resnet34", 0.5, 8, 500)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = TrainConfig(arch="vgg16", crop=64, resize=72, data="m.csv", aux_normal=True)
    path = tmp_path / "config.yaml"
    path.write_text(cfg.to_yaml(), encoding="utf-8")
    assert resolve(None, **load_yaml(path)) == cfg


def test_regime_and_task_are_enums_written_as_plain_text(tmp_path: Path) -> None:
    cfg = TrainConfig(pretrain="imagenet", task="chestx14")
    assert cfg.pretrain is Regime.IMAGENET and cfg.task is Task.CHESTX14
    assert "pretrain: imagenet\n" in cfg.to_yaml() and "task: chestx14\n" in cfg.to_yaml()
    path = tmp_path / "c.yaml"
    path.write_text("arch: resnet34\npretrain: imagenet21k\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml:2: pretrain must be one of \('none'"):
        load_yaml(path)
    with pytest.raises(ConfigError, match=r"flag: task must be one of \('regions'"):
        resolve(None, task="segmentation")
    with pytest.raises(ValidationError, match="Input should be 'regions' or 'chestx14'"):
        TrainConfig(task="segmentation")


def test_flags_are_checked_and_named_as_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("arch: resnet34\ncrop: 300\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"c.yaml:2: crop 300 exceeds resize 256"):
        resolve(path)
    assert resolve(path, resize=320).crop == 300
    with pytest.raises(ConfigError, match="flag: epochs: Input should be a valid integer"):
        resolve(None, epochs="3")
    with pytest.raises(ConfigError, match="flag: unknown setting 'learning_rate'"):
        resolve(None, learning_rate=0.1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("arch: resnet34\nleraning_rate: 1\n", r"c.yaml:2: unknown setting 'leraning_rate'"),
        ("epochs: ten\n", r"c.yaml:1: epochs: Input should be a valid integer"),
        ("lr: true\n", r"c.yaml:1: lr: Input should be a valid number"),
        ("epochs: 0\n", r"c.yaml:1: epochs: Input should be greater than or equal to 1"),
        ("seed: '3'\n", r"c.yaml:1: seed: Input should be a valid integer"),
        ("arch: resnet34\nloss: l2\n", r"c.yaml:2: loss must be one of"),
        ("arch: lenet\n", r"c.yaml:1: arch must be one of"),
        ("pretrain: chestx14\n", r"c.yaml:1: pretrain chestx14 needs --init CHECKPOINT"),
        ("init: x.pt\n", "init needs pretrain chestx14"),
        ("crop: 300\n", "crop 300 exceeds resize 256"),
        ("- a\n- b\n", r"c.yaml:1: expected a mapping"),
        ("arch: [unclosed\n", r"c.yaml: while parsing"),
    ],
)
def test_bad_config_names_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        resolve(path)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_load(path: Path) -> None:
    values = load_yaml(path)
    if values.get("pretrain") == "chestx14":
        values["init"] = "pretrained.pt"
    resolve(None, **values)

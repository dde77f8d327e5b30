"""Experiment configuration: paper defaults, overridden by a YAML file, overridden by flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from classifier.losses import LOSSES
from classifier.registry import arch_names, get_spec

PRETRAIN = ("none", "imagenet", "chestx14")
TASKS = ("regions", "chestx14")


class ConfigError(ValueError):
    """A config value or file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class TrainConfig:
    """Defaults are the paper's (000 §3): Adam 1e-3, batch 16, lr halved each epoch, plain BCE."""

    data: str | None = None  # the manifest (task "regions") or the NIH folder ("chestx14")
    task: str = "regions"
    arch: str = "densenet121"
    pretrain: str = "none"
    weights: str | None = None  # ImageNet file instead of $TORCH_HOME/hub/checkpoints/…
    init: str | None = None  # checkpoint for --pretrain chestx14
    loss: str = "bce"
    aux_normal: bool = False
    epochs: int = 500
    patience: int = 10  # epochs without a better val mean AUC before stopping
    batch_size: int = 16
    lr: float = 1e-3
    lr_decay: float = 0.5  # multiplied into the lr after every epoch
    resize: int = 256
    crop: int | None = None  # None: the architecture's input size (227 or 224)
    augment: bool = True  # rotation ±15° and rescale before the crop (classifier.transforms)
    workers: int = 2
    seed: int = 0
    device: str = "auto"  # auto: CUDA when available
    channels_last: bool = True
    # Films decoded once and kept on the training device, augmented there in batch
    # (classifier.cache); None: on with CUDA, off on the CPU.
    film_cache: bool | None = None

    def __post_init__(self) -> None:
        _check(self.task in TASKS, f"task must be one of {TASKS}")
        _check(self.arch in arch_names(), f"arch must be one of {arch_names()}")
        _check(self.pretrain in PRETRAIN, f"pretrain must be one of {PRETRAIN}")
        _check(self.loss in LOSSES, f"loss must be one of {tuple(LOSSES)}")
        _check(self.pretrain == "chestx14" or self.init is None, "init needs pretrain chestx14")
        _check(
            self.pretrain == "imagenet" or self.weights is None, "weights needs pretrain imagenet"
        )
        _check(self.pretrain != "chestx14" or self.init is not None, "pretrain chestx14 needs init")
        for name in ("epochs", "batch_size", "resize"):
            _check(getattr(self, name) >= 1, f"{name} must be at least 1")
        _check(self.patience >= 1, "patience must be at least 1")
        _check(self.lr > 0 and 0 < self.lr_decay <= 1, "lr must be > 0 and lr_decay in (0, 1]")
        _check(self.workers >= 0, "workers must be ≥ 0")
        _check(self.crop_size <= self.resize, f"crop {self.crop_size} exceeds resize {self.resize}")

    @property
    def crop_size(self) -> int:
        return self.crop if self.crop is not None else get_spec(self.arch).input_size

    def to_yaml(self) -> str:
        return yaml.safe_dump(dataclasses.asdict(self), sort_keys=False, allow_unicode=True)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


_FIELDS = {f.name: f for f in fields(TrainConfig)}


def _build(values: dict[str, Any], source: str) -> TrainConfig:
    try:
        return TrainConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except TypeError as exc:  # a wrongly typed value that broke a comparison
        raise ConfigError(f"{source}: {exc}") from None


def _typed(name: str, value: Any, where: str) -> Any:
    expected = _FIELDS[name].type
    if value is None:
        if "None" not in str(expected):
            raise ConfigError(f"{where}: {name} may not be empty")
        return None
    checks = {"int": int, "float": (int, float), "bool": bool, "str": str}
    base = str(expected).split(" |")[0]
    if base in ("int", "float") and isinstance(value, bool):
        raise ConfigError(f"{where}: {name} must be {base}, not {value!r}")
    if not isinstance(value, checks[base]):
        raise ConfigError(f"{where}: {name} must be {base}, not {value!r}")
    return float(value) if base == "float" else value


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a config file into field values, with file:line for every error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: expected a mapping of settings")
    values: dict[str, Any] = {}
    for key_node, value_node in root.value:
        where = f"{path}:{key_node.start_mark.line + 1}"
        key = key_node.value
        if key not in _FIELDS:
            raise ConfigError(f"{where}: unknown setting {key!r}; known: {', '.join(_FIELDS)}")
        value = yaml.safe_load(yaml.serialize(value_node))
        values[key] = _typed(key, value, where)
    return values


def resolve(config_file: Path | None = None, **flags: Any) -> TrainConfig:
    """Paper defaults ← config file ← flags that were given (None means not given)."""
    values = load_yaml(config_file) if config_file is not None else {}
    values |= {k: _typed(k, v, "flag") for k, v in flags.items() if v is not None}
    return _build(values, str(config_file) if config_file else "flags")

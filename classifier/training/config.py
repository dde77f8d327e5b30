"""Experiment configuration: paper defaults, overridden by a YAML file, overridden by flags.

`TrainConfig` is a pydantic model, as the rule packs are: strict types (no "3" for 3, no `true`
for a number), unknown settings refused, and every error names the file and line of the
setting it is about (or "flag" for a command-line value).
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from classifier.models.registry import arch_names, get_spec
from classifier.run import Task
from classifier.training.losses import LOSSES


class Regime(str, Enum):
    """How a network starts (paper 000 Table 2): from scratch, from ImageNet weights, or from a
    ChestX-ray14 pretraining checkpoint."""

    NONE = "none"
    IMAGENET = "imagenet"
    CHESTX14 = "chestx14"

    def __str__(self) -> str:
        return self.value


PRETRAIN = tuple(r.value for r in Regime)  # the choices, as flags and config files spell them


class ConfigError(ValueError):
    """A config value or file that cannot be used; the message names the file and line."""


class TrainConfig(BaseModel):
    """Defaults are the paper's (000 §3): Adam 1e-3, batch 16, lr halved each epoch, plain BCE.

    Built from files and flags by `resolve` (ConfigError with file:line); built directly, a bad
    value raises pydantic's ValidationError."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    data: str | None = None  # the manifest (task "regions") or the NIH folder ("chestx14")
    task: Annotated[Task, Strict(False)] = Task.REGIONS  # "regions" from a file is Task.REGIONS
    arch: str = "densenet121"
    pretrain: Annotated[Regime, Strict(False)] = Regime.NONE
    weights: str | None = None  # ImageNet file instead of $TORCH_HOME/hub/checkpoints/…
    init: str | None = None  # checkpoint for --pretrain chestx14
    loss: str = "bce"
    aux_normal: bool = False
    epochs: int = Field(500, ge=1)
    patience: int = Field(10, ge=1)  # epochs without a better val mean AUC before stopping
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    lr_decay: float = Field(0.5, gt=0, le=1)  # multiplied into the lr after every epoch
    resize: int = Field(256, ge=1)
    crop: int | None = Field(None, ge=1)  # None: the architecture's input size (227 or 224)
    augment: bool = True  # rotation ±15° and rescale before the crop (classifier.data.transforms)
    workers: int = Field(2, ge=0)
    seed: int = 0
    device: str = "auto"  # auto: CUDA when available
    channels_last: bool = True
    # Films decoded once and kept on the training device, augmented there in batch
    # (classifier.training.cache); None: on with CUDA, off on the CPU.
    film_cache: bool | None = None
    # False: when the run ends, last.pt keeps only the counters and history (a few kB; the
    # weights stay in best.pt), so a grid does not fill a disk; an interrupted run keeps it all.
    keep_last: bool = True

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, arch: str) -> str:
        if arch not in arch_names():
            raise ValueError(f"arch must be one of {arch_names()}")
        return arch

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, loss: str) -> str:
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {tuple(LOSSES)}")
        return loss

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        chestx14 = self.pretrain is Regime.CHESTX14
        if chestx14 and self.init is None:
            raise ValueError(
                "pretrain chestx14 needs --init CHECKPOINT (or `init:` in the config): "
                "the ChestX-14 checkpoint to start from, made by `cxrclf pretrain`"
            )
        if not chestx14 and self.init is not None:
            raise ValueError("init needs pretrain chestx14")
        if self.pretrain is not Regime.IMAGENET and self.weights is not None:
            raise ValueError("weights needs pretrain imagenet")
        if self.crop_size > self.resize:
            raise ValueError(f"crop {self.crop_size} exceeds resize {self.resize}")
        return self

    @property
    def crop_size(self) -> int:
        return self.crop if self.crop is not None else get_spec(self.arch).input_size

    def to_yaml(self) -> str:
        values = self.model_dump(mode="json")
        return yaml.safe_dump(values, sort_keys=False, allow_unicode=True)


FIELDS = tuple(TrainConfig.model_fields)


@cache
def _field_check(name: str) -> TypeAdapter:
    """One setting's type and bounds, checked where it is read (a file line, a flag)."""
    info = TrainConfig.model_fields[name]
    annotated = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return TypeAdapter(annotated, config=ConfigDict(strict=True))


def _describe(exc: ValidationError, where: Any) -> str:
    """One line per error: `where(setting)` then the setting and pydantic's message."""
    lines = []
    for err in exc.errors():
        key = str(err["loc"][0]) if err["loc"] else ""
        message = str(err["msg"]).removeprefix("Value error, ")
        if not key:  # a rule between settings: placed at the setting it starts with
            first = message.split(" ", 1)[0]
            place = where(first) if first in TrainConfig.model_fields else where(key)
            place = "" if place == "flag" else place
        else:
            place = where(key)
        text = f"{key}: {message}" if key and not message.startswith(key) else message
        lines.append(f"{place}: {text}" if place else text)
    return "; ".join(lines)


def _checked(name: str, value: Any, where: str) -> Any:
    if name not in TrainConfig.model_fields:
        raise ConfigError(f"{where}: unknown setting {name!r}; known: {', '.join(FIELDS)}")
    if name in ("task", "pretrain") and isinstance(value, str):
        kind = Task if name == "task" else Regime
        if value not in (member.value for member in kind):
            choices = tuple(member.value for member in kind)
            raise ConfigError(f"{where}: {name} must be one of {choices}, not {value!r}")
    try:
        _field_check(name).validate_python(value, strict=name not in ("task", "pretrain"))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, lambda _key: f"{where}: {name}")) from None
    return value


class Settings(dict):
    """Setting values read from a config file, with the line of each."""

    def __init__(self, path: Path, values: dict[str, Any], lines: dict[str, int]) -> None:
        super().__init__(values)
        self.path = path
        self.lines = lines


def load_yaml(path: Path) -> Settings:
    """Read a config file into setting values, each checked on its own: file:line for every
    error. Rules between settings (init needs pretrain chestx14) wait for `resolve`."""
    path = Path(path)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if root is None:
        return Settings(path, {}, {})
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: expected a mapping of settings")
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key_node, value_node in root.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        value = yaml.safe_load(yaml.serialize(value_node))
        values[key] = _checked(key, value, f"{path}:{line}")
        lines[key] = line
    return Settings(path, values, lines)


def resolve(config_file: Path | None = None, **flags: Any) -> TrainConfig:
    """Paper defaults ← config file ← flags that were given (None means not given)."""
    settings = load_yaml(config_file) if config_file is not None else Settings(Path(), {}, {})
    given = {k: _checked(k, v, "flag") for k, v in flags.items() if v is not None}
    source = str(config_file) if config_file is not None else "flags"

    def where(key: str) -> str:
        if key in given or key not in settings.lines:
            return "flag" if key in given else source
        return f"{settings.path}:{settings.lines[key]}"

    try:
        return TrainConfig.model_validate(dict(settings) | given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, where)) from None

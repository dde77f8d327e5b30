"""Our checkpoint files: weights plus the metadata needed to use them, written atomically."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from classifier.models.registry import ArchSpec, create_model, get_spec, head_prefix
from classifier.models.statedict import as_state_dict, load_strict
from classifier.run import Preprocessing, RecordError, Task
from toolkit.files import atomic_open

FORMAT = "cxrclf-checkpoint"
# 2: the preprocessing record (classifier.run.Preprocessing) replaces labels, input_size,
# resize, mean and std; version-1 files are migrated on load (migrate_v1).
FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, not ours, or made for another network."""


def _toolkit_version() -> str:
    try:
        return metadata.version("cxr-toolkit")
    except metadata.PackageNotFoundError:  # run from a source tree on PYTHONPATH
        return "source"


def versions() -> dict[str, str]:
    return {
        "cxr-toolkit": _toolkit_version(),
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
    }


@dataclass(frozen=True)
class CheckpointMeta:
    arch: str
    task: Task
    preprocessing: Preprocessing  # how films become the input; `labels` name the outputs
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)

    @property
    def labels(self) -> tuple[str, ...]:
        """One per output unit, in head order."""
        return self.preprocessing.labels

    @property
    def input_size(self) -> int:
        """The crop fed to the network."""
        return self.preprocessing.crop

    @property
    def resize(self) -> int:
        return self.preprocessing.resize

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "task": Task(self.task).value,  # plain text: weights_only loading refuses enums
            "preprocessing": self.preprocessing.to_dict(),
            "epoch": self.epoch,
            "metrics": dict(self.metrics),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        try:
            meta = cls(
                arch=str(data["arch"]),
                task=Task(data["task"]),
                preprocessing=Preprocessing.from_dict(data["preprocessing"], "checkpoint"),
                epoch=int(data["epoch"]),
                # null in exported metadata (strict JSON) is an undefined figure
                metrics={
                    str(k): math.nan if v is None else float(v)
                    for k, v in dict(data["metrics"]).items()
                },
                versions=dict(data["versions"]),
            )
        except RecordError as exc:  # the record is read and range-checked on its own
            raise CheckpointError(str(exc).removeprefix("checkpoint: ")) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint metadata is incomplete: {exc}") from exc
        return meta


def migrate_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """Version-1 metadata (labels, input_size, resize, mean, std at the top, no record of the
    training images) as version 2. The film format stays unknown (None): prediction then makes
    films as version 1 did, and evaluation cannot check a manifest against it."""
    try:
        preprocessing = Preprocessing(
            film=None,
            resize=int(meta["resize"]),
            crop=int(meta["input_size"]),
            mean=tuple(float(v) for v in meta["mean"]),
            std=tuple(float(v) for v in meta["std"]),
            labels=tuple(str(v) for v in meta["labels"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint metadata is incomplete: {exc}") from exc
    problem = preprocessing.out_of_range()
    if problem:
        raise CheckpointError(problem)
    moved = ("labels", "input_size", "resize", "mean", "std")
    rest = {k: v for k, v in meta.items() if k not in moved}
    return rest | {"preprocessing": preprocessing.to_dict()}


_MIGRATIONS = {1: migrate_v1}


def _meta(obj: dict[str, Any], path: Path) -> CheckpointMeta:
    """The metadata of any version this code reads, migrated to the current one."""
    version = obj.get("format_version")
    meta = obj.get("meta")
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint has no 'meta' record (labels, preprocessing)")
    if version != FORMAT_VERSION:
        if version not in _MIGRATIONS:
            raise CheckpointError(
                f"{path}: checkpoint format version {version!r}, "
                f"this version reads {FORMAT_VERSION} and {', '.join(map(str, _MIGRATIONS))}"
            )
    try:
        return CheckpointMeta.from_dict(
            _MIGRATIONS[version](meta) if version in _MIGRATIONS else meta
        )
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Checkpoint:
    meta: CheckpointMeta
    model: dict[str, torch.Tensor]
    # Optimizer, scheduler, RNG and loop state for --resume; empty in exported weights.
    train_state: dict[str, Any] = field(default_factory=dict)


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": checkpoint.meta.to_dict(),
        "model": checkpoint.model,
        "train_state": checkpoint.train_state,
    }
    with atomic_open(path, "wb", fsync=True) as handle:  # the project's one atomic writer
        torch.save(payload, handle)


def _read(path: Path) -> Any:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # weights_only: a checkpoint from elsewhere cannot run code when opened.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, unsafe global: all mean "bad file"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if first.startswith("Weights only load failed"):  # torch's advice to load unsafely
            first = "it holds Python objects, which are not opened: only tensors and plain data"
        raise CheckpointError(
            f"{path}: corrupted or not a PyTorch checkpoint ({first[:200]})"
        ) from exc


def _is_ours(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load(path: Path) -> Checkpoint:
    obj = _read(path)
    if not _is_ours(obj):
        raise CheckpointError(f"{path}: not a cxrclf checkpoint (no '{FORMAT}' header)")
    return Checkpoint(
        meta=_meta(obj, path),
        model=obj["model"],
        train_state=obj.get("train_state") or {},
    )


def network(meta: CheckpointMeta, state: dict[str, torch.Tensor], where: str) -> nn.Module:
    """The network `meta` describes with `state` loaded, in eval mode on the CPU."""
    if not state:
        raise CheckpointError(
            f"{where} holds no weights: its run ended with --no-keep-last, which keeps them "
            "in best.pt only"
        )
    try:
        model = create_model(meta.arch, len(meta.labels))
    except ValueError as exc:  # an architecture this version does not know
        raise CheckpointError(f"{where}: {exc}") from exc
    first = model.get_submodule(get_spec(meta.arch).first_conv)
    channels = len(meta.preprocessing.mean)
    if getattr(first, "in_channels", channels) != channels:
        raise CheckpointError(
            f"{where}: its mean/std have {channels} channel(s), {meta.arch} takes "
            f"{first.in_channels}"
        )
    load_strict(model, state, where)
    return model.eval()


def load_backbone(model: nn.Module, spec: ArchSpec, path: Path) -> None:
    """Initialise every layer but the head from a checkpoint of the same architecture.

    Reads our checkpoints, CheXNet-layout files and plain torchvision state dicts; any key that
    does not fit, outside the head, is an error listing them all.
    """
    obj = _read(path)
    if _is_ours(obj):
        meta = _meta(obj, path)
        if meta.arch != spec.name:
            raise CheckpointError(f"{path} holds a {meta.arch} model, not {spec.name}")
        state = obj["model"]
        if not state:
            raise CheckpointError(f"{path} holds no weights (a run ended with --no-keep-last)")
    else:
        state = as_state_dict(obj, str(path))
    load_strict(model, state, str(path), ignore=[head_prefix(spec)])

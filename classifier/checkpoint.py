"""Our checkpoint files: weights plus the metadata needed to use them, written atomically."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from classifier.registry import ArchSpec, head_prefix
from classifier.statedict import as_state_dict, load_strict

FORMAT = "cxrclf-checkpoint"
FORMAT_VERSION = 1


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
    task: str  # "regions" (our manifest) or "chestx14" (NIH pretraining)
    labels: tuple[str, ...]  # one per output unit, in head order
    input_size: int  # crop fed to the network
    resize: int  # films are resized to this square before cropping
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=versions)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointMeta:
        try:
            return cls(
                arch=str(data["arch"]),
                task=str(data["task"]),
                labels=tuple(data["labels"]),
                input_size=int(data["input_size"]),
                resize=int(data["resize"]),
                mean=tuple(data["mean"]),
                std=tuple(data["std"]),
                epoch=int(data["epoch"]),
                metrics=dict(data["metrics"]),
                versions=dict(data["versions"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint metadata is incomplete: {exc}") from exc


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
        "meta": asdict(checkpoint.meta),
        "model": checkpoint.model,
        "train_state": checkpoint.train_state,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Any:
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        # weights_only: a checkpoint from elsewhere cannot run code when opened.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle error, unsafe global: all mean "bad file"
        raise CheckpointError(f"{path}: corrupted or not a PyTorch checkpoint ({exc})") from exc


def _is_ours(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def load(path: Path) -> Checkpoint:
    obj = _read(path)
    if not _is_ours(obj):
        raise CheckpointError(f"{path}: not a cxrclf checkpoint (no '{FORMAT}' header)")
    if obj.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {obj.get('format_version')!r}, "
            f"this version reads {FORMAT_VERSION}"
        )
    return Checkpoint(
        meta=CheckpointMeta.from_dict(obj["meta"]),
        model=obj["model"],
        train_state=obj.get("train_state") or {},
    )


def load_backbone(model: nn.Module, spec: ArchSpec, path: Path) -> None:
    """Initialise every layer but the head from a checkpoint of the same architecture.

    Reads our checkpoints, CheXNet-layout files and plain torchvision state dicts; any key that
    does not fit, outside the head, is an error listing them all.
    """
    obj = _read(path)
    if _is_ours(obj):
        meta = CheckpointMeta.from_dict(obj["meta"])
        if meta.arch != spec.name:
            raise CheckpointError(f"{path} holds a {meta.arch} model, not {spec.name}")
        state = obj["model"]
    else:
        state = as_state_dict(obj, str(path))
    load_strict(model, state, str(path), ignore=[head_prefix(spec)])

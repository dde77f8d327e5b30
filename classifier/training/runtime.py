"""Where and how batches run: CUDA with bf16 autocast and channels_last, or CPU in float32."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from classifier.training.datasets import prepare_batch


class DeviceError(ValueError):
    """A --device that names no device, or one this machine does not have."""


def device_named(device: str) -> torch.device:
    """`device` (auto, cpu, cuda, cuda:N) as a torch device; auto is CUDA when torch sees one.
    Only the name is checked: ONNX Runtime has its own CUDA."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        named = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(
            f"--device {device!r} is not a device: auto, cpu, cuda or cuda:N"
        ) from exc
    if named.type not in ("cpu", "cuda"):
        raise DeviceError(f"--device {device!r}: this toolkit runs on cpu or cuda")
    return named


@dataclass(frozen=True)
class Runtime:
    """Where and how batches run: CUDA with bf16 autocast, or CPU in float32."""

    device: torch.device
    channels_last: bool

    @classmethod
    def pick(
        cls, device: str = "auto", channels_last: bool = True, local_rank: int | None = None
    ) -> Runtime:
        """`local_rank` (under torchrun) picks that process's GPU for "auto" and "cuda"."""
        named = device_named(device)
        if named.type == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                raise DeviceError(f"--device {device}: torch sees no CUDA device on this machine")
            if named.index is None and local_rank is not None:
                named = torch.device("cuda", local_rank)
            if named.index is not None and named.index >= count:
                raise DeviceError(f"--device {device}: this machine has {count} CUDA device(s)")
        return cls(named, channels_last)

    @property
    def amp(self) -> bool:
        return self.device.type == "cuda"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def place(self, model: nn.Module) -> nn.Module:
        return model.to(self.device, memory_format=self.memory_format)

    def forward(
        self,
        model: nn.Module,
        films: torch.Tensor,
        mean: tuple[float, ...],
        std: tuple[float, ...],
    ) -> torch.Tensor:
        """Logits in float32 for a batch of grey films in [0, 1], normalised by `mean`/`std`
        (the architecture's in training, the checkpoint's record afterwards)."""
        films = films.to(self.device, non_blocking=True)
        x = prepare_batch(films, mean, std).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            return model(x).float()

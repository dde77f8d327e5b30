"""Where and how batches run: CUDA with bf16 autocast and channels_last, or CPU in float32."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from classifier.training.datasets import prepare_batch


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
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and local_rank is not None:
            device = f"cuda:{local_rank}"
        return cls(torch.device(device), channels_last)

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

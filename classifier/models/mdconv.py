"""Multi-kernel depthwise convolution (MD-Conv, paper 001) and the MobileNetV2 surgery using it."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual


class MDConv(nn.Module):
    """Depthwise conv whose channels are split 1:1 between 3×3 and 5×5 kernels (paper 001 §III)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.split = channels // 2
        self.conv3 = nn.Conv2d(self.split, self.split, 3, stride, 1, groups=self.split, bias=False)
        rest = channels - self.split
        self.conv5 = nn.Conv2d(rest, rest, 5, stride, 2, groups=rest, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [self.split, x.shape[1] - self.split], dim=1)
        return torch.cat([self.conv3(a), self.conv5(b)], dim=1)

    @classmethod
    def from_depthwise(cls, conv: nn.Conv2d) -> MDConv:
        """Replace a 3×3 depthwise conv without changing what it computes.

        The 5×5 half starts as the 3×3 kernels zero-padded, so ImageNet features survive the
        surgery; training then grows the outer ring.
        """
        if conv.groups != conv.in_channels or conv.kernel_size != (3, 3):
            raise ValueError(f"not a 3×3 depthwise conv: {conv}")
        md = cls(conv.in_channels, conv.stride[0])
        with torch.no_grad():
            md.conv3.weight.copy_(conv.weight[: md.split])
            md.conv5.weight.copy_(F.pad(conv.weight[md.split :], (1, 1, 1, 1)))
        return md


def convert_stage(blocks: nn.Sequential) -> None:
    """Swap the depthwise conv of every MobileNetV2 bottleneck in `blocks` for an MD-Conv."""
    for block in blocks:
        if not isinstance(block, InvertedResidual):
            raise TypeError(f"expected MobileNetV2 bottlenecks, got {type(block).__name__}")
        # block.conv = [expand 1×1 (Conv, BN, ReLU6)], [depthwise (Conv, BN, ReLU6)], project…
        depthwise = block.conv[-3]
        depthwise[0] = MDConv.from_depthwise(depthwise[0])

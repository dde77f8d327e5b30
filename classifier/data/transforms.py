"""Augmentation: rotation within ±15° and a crop that keeps the chest in frame, as one affine warp.

One warp serves every path: online in training (`warp_crops`, per film in a DataLoader worker
through classifier.training.datasets.FilmDataset, or a whole batch on the device through the
film cache) and offline (`augment_file`, `--offline-augment K`), so a film augmented offline
looks exactly like the same parameters applied online.

Geometry, in units of the image half-side: the crop window's side is `scale` (at least
`min_scale`) times the image's, placed anywhere inside the image, and rotated about its centre by
`angle`. With the defaults (scale >= 0.9, |angle| <= 15°) every point within 0.75 of the centre
stays in frame in every draw: (0.75 + sqrt(2) x 0.1) / 0.9 < 1. So the heart, mediastinum and
most of both lungs are never cut; at worst the outer eighth of the film on a side, more at the
corners, leaves the frame. A smaller AugmentSpec keeps more.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from classifier.files import encode_png, is_valid_png, read_png, write_atomic


@dataclass(frozen=True)
class AugmentSpec:
    max_rotation: float = 15.0  # degrees either way
    min_scale: float = 0.9  # crop side as a fraction of the image side


@dataclass(frozen=True)
class AugmentParams:
    """One film's augmentation. Positive angles turn the content counter-clockwise as shown."""

    angle: float
    scale: float
    shift_x: float  # crop centre, in half-widths from the image centre
    shift_y: float  # in half-heights, positive downwards

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AugmentParams:
        """The parameters of a manifest row's `augment` column."""
        return cls(**{k: float(v) for k, v in json.loads(text).items()})

    @classmethod
    def from_row(cls, row: torch.Tensor) -> AugmentParams:
        """Rounded to 6 decimals, so the manifest's JSON reproduces the image exactly."""
        angle, scale, shift_x, shift_y = (round(float(v), 6) for v in row.tolist())
        return cls(angle, scale, shift_x, shift_y)

    def row(self) -> torch.Tensor:
        values = [self.angle, self.scale, self.shift_x, self.shift_y]
        return torch.tensor(values, dtype=torch.float64)


def sample_params(
    spec: AugmentSpec, count: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """`count` rows of (angle, scale, shift_x, shift_y), uniform within the spec, on the CPU."""
    u = torch.rand(count, 4, generator=generator, dtype=torch.float64)
    angle = (2 * u[:, 0] - 1) * spec.max_rotation
    scale = spec.min_scale + (1 - spec.min_scale) * u[:, 1]
    # The crop window stays inside the image: its centre moves at most (1 - scale).
    shift = (2 * u[:, 2:] - 1) * (1 - scale)[:, None]
    return torch.stack([angle, scale, shift[:, 0], shift[:, 1]], dim=1)


def affine_theta(params: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """affine_grid matrices mapping output to input coordinates, one per row of `params`."""
    radians = params[:, 0] * (math.pi / 180)
    cos, sin = torch.cos(radians), torch.sin(radians)
    scale = params[:, 1]
    # Normalised coordinates stretch x and y by different factors on a non-square image; the
    # aspect terms keep the rotation a rotation in pixels.
    return torch.stack(
        [
            torch.stack([scale * cos, -scale * sin * (height / width), params[:, 2]], dim=1),
            torch.stack([scale * sin * (width / height), scale * cos, params[:, 3]], dim=1),
        ],
        dim=1,
    )


def warp(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Apply one parameter row per image of an (N, C, H, W) batch; the output keeps dtype and
    size, and what comes from outside the film is black."""
    n, _, height, width = images.shape
    grid = F.affine_grid(_theta(params, images), [n, 1, height, width], align_corners=False)
    return _sample(images, grid)


def warp_crops(
    images: torch.Tensor, params: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> torch.Tensor:
    """The (size, size) windows at (top, left) of `warp(images, params)`, one per image, found
    by sampling only the window's pixels: the same grid points, (crop / side)² of the work."""
    n, _, height, width = images.shape
    theta = _theta(params, images)
    # affine_grid's own base coordinates (pixel centres, align_corners=False), so the window's
    # grid is the full grid's sub-block to the last bit.
    xs = torch.linspace(-1, 1, width, device=theta.device) * (width - 1) / width
    ys = torch.linspace(-1, 1, height, device=theta.device) * (height - 1) / height
    steps = torch.arange(size, device=theta.device)
    cols = xs[left.to(theta.device)[:, None] + steps][:, None, :].expand(n, size, size)
    rows = ys[top.to(theta.device)[:, None] + steps][:, :, None].expand(n, size, size)
    base = torch.stack([cols, rows, torch.ones_like(cols)], dim=-1).reshape(n, size * size, 3)
    grid = base.bmm(theta.transpose(1, 2)).view(n, size, size, 2)
    return _sample(images, grid)


def _theta(params: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    theta = affine_theta(params.to(torch.float64), height, width)
    return theta.to(device=images.device, dtype=torch.float32)


def _sample(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    out = F.grid_sample(
        images.to(torch.float32), grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    if images.is_floating_point():
        return out.to(images.dtype)
    limit = torch.iinfo(images.dtype).max
    return torch.floor(out + 0.5).clamp_(0, limit).to(images.dtype)


@dataclass(frozen=True)
class AugmentJob:
    source: Path
    target: Path
    params: AugmentParams
    size: int
    mode: str  # PNG mode of source and target: "L" or "I;16"


def augment_file(job: AugmentJob) -> None:
    """Worker entry point for offline augmentation; a valid target from an earlier run stays."""
    if is_valid_png(job.target, job.mode, (job.size, job.size)):
        return
    torch.set_num_threads(1)  # the pool already runs one process per core
    pixels = read_png(job.source)
    batch = torch.from_numpy(pixels.astype(np.float32))[None, None]
    out = warp(batch, job.params.row()[None])[0, 0].numpy()
    dtype = np.uint8 if job.mode == "L" else np.uint16
    levels = np.floor(out + 0.5).clip(0, np.iinfo(dtype).max).astype(dtype)
    write_atomic(job.target, encode_png(levels))

"""Where a region classifier looks: Grad-CAM and CAM heatmaps per region, and their overlays.

Both read the feature map of the architecture's `cam_layer` (the last one, after its activation)
through a forward hook that lives only for one forward pass. Grad-CAM weights its channels by
the spatial mean of the region logit's gradient; CAM by the region's row of the head, which is
only meaningful when the head is one Linear on the globally average-pooled map (`ArchSpec.gap`).
For such heads the gradient is that row divided by the map's area, so the two agree; CAM just
needs no backward pass. Either map is rectified, bilinearly upsampled to the crop the network
saw and stretched to [0, 1].
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from classifier.files import encode_png, write_atomic
from classifier.inference.scoring import Classifier, prepare_file
from classifier.training.datasets import prepare_batch

METHODS = ("gradcam", "cam")
OVERLAY_SIDE = 512  # the crops (64–227 px) are too small to read at their own size
COLORMAP = "jet"
BLEND = 0.6  # colour weight where the heatmap peaks; cold pixels show the plain film


class HeatmapError(ValueError):
    """A heatmap the classifier cannot give: an unknown region, or CAM without a GAP head."""


@dataclass(frozen=True)
class Heatmap:
    region: str
    method: str  # one of METHODS
    probability: float  # the classifier's output for `region` on this film
    cam: np.ndarray  # (crop, crop) float32 in [0, 1], pixel-aligned with the network's crop


def network_view(clf: Classifier, path: Path) -> torch.Tensor:
    """The (1, crop, crop) grey film in [0, 1] the classifier sees for a film file.

    Raises FilmError with the reason when the file cannot be read as a grey film.
    """
    return prepare_file(path, clf.meta.preprocessing)


@contextmanager
def _feature_maps(net: nn.Module, layer: str) -> Iterator[list[torch.Tensor]]:
    """Outputs of `layer` during the block; the hook is gone afterwards, whatever happens."""
    maps: list[torch.Tensor] = []
    handle = net.get_submodule(layer).register_forward_hook(lambda _m, _i, out: maps.append(out))
    try:
        yield maps
    finally:
        handle.remove()


def _forward(clf: Classifier, film: torch.Tensor, graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (1, outputs) and the cam layer's map (1, channels, h, w) of one film, in float32.

    The map is read after the whole forward pass, so an in-place activation applied to it later
    in the network (DenseNet's final ReLU) is included.
    """
    prep = clf.meta.preprocessing
    x = prepare_batch(film[None].to(clf.runtime.device), prep.mean, prep.std)
    x = x.contiguous(memory_format=clf.runtime.memory_format)
    # The input requires grad so the graph reaches the map even if the weights were frozen.
    x.requires_grad_(graph)
    # Training's bf16 autocast would make the maps blocky; heatmaps are always float32.
    with (
        _feature_maps(clf.net, clf.spec.cam_layer) as maps,
        torch.set_grad_enabled(graph),
        torch.autocast(clf.runtime.device.type, enabled=False),
    ):
        logits = clf.net(x)
    return logits, maps[-1]


def _weighted_sum(weights: torch.Tensor, fmap: torch.Tensor) -> torch.Tensor:
    return torch.einsum("k,khw->hw", weights, fmap[0].detach())


def _gradcam(logits: torch.Tensor, fmap: torch.Tensor, index: int) -> torch.Tensor:
    # A one-hot output gradient rather than indexing the logits: an index taken here would be
    # cut from the graph when the caller runs under torch.no_grad().
    pick = F.one_hot(torch.tensor([index]), logits.shape[1]).to(logits)
    (grad,) = torch.autograd.grad(logits, fmap, grad_outputs=pick, retain_graph=True)
    return _weighted_sum(grad[0].mean(dim=(1, 2)), fmap)


def _cam(head: nn.Module, fmap: torch.Tensor, index: int) -> torch.Tensor:
    return _weighted_sum(head.weight[index].detach(), fmap)


def _to_crop(cam: torch.Tensor, crop: int) -> np.ndarray:
    """Rectified, bilinearly upsampled to the crop and stretched to [0, 1]; a flat map is 0.

    Stretching from the minimum (as the CAM and Grad-CAM authors' code does) matters: every
    cell of a small final map sees most of the film, so the rectified map carries a large common
    offset that would otherwise paint the whole film hot.
    """
    up = F.interpolate(
        cam.clamp(min=0)[None, None], size=(crop, crop), mode="bilinear", align_corners=False
    )[0, 0]
    low, high = up.min(), up.max()
    up = (up - low) / (high - low) if high > low else torch.zeros_like(up)
    return up.float().cpu().numpy()


def _indices(clf: Classifier, regions: Sequence[str]) -> list[int]:
    unknown = [r for r in regions if r not in clf.regions]
    if unknown:
        raise HeatmapError(
            f"{clf.path} has no region {', '.join(unknown)}; its regions: {', '.join(clf.regions)}"
        )
    return [clf.meta.labels.index(r) for r in regions]


def region_heatmaps(
    clf: Classifier, film: torch.Tensor, regions: Sequence[str], method: str = "gradcam"
) -> tuple[Heatmap, ...]:
    """One heatmap per region for a (1, crop, crop) film from `network_view`."""
    if method not in METHODS:
        raise HeatmapError(f"unknown heatmap method {method!r}; known: {', '.join(METHODS)}")
    if method == "cam" and not clf.spec.gap:
        raise HeatmapError(
            f"CAM needs a head that is one Linear layer on globally average-pooled features, "
            f"which {clf.spec.name} does not have; use Grad-CAM (--method gradcam)"
        )
    indices = _indices(clf, regions)
    logits, fmap = _forward(clf, film, graph=method == "gradcam")
    head = clf.net.get_submodule(clf.spec.classifier)
    crop = film.shape[-1]
    out = []
    for region, index in zip(regions, indices, strict=True):
        cam = _gradcam(logits, fmap, index) if method == "gradcam" else _cam(head, fmap, index)
        probability = float(torch.sigmoid(logits[0, index].detach()))
        out.append(Heatmap(region, method, probability, _to_crop(cam, crop)))
    return tuple(out)


def _resized(pixels: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray(pixels.astype(np.float32))
    return np.asarray(image.resize((side, side), Image.Resampling.BILINEAR))


def overlay(film: np.ndarray, heatmap: Heatmap, side: int = OVERLAY_SIDE) -> Image.Image:
    """An RGB picture of the (crop, crop) grey film with the heatmap blended in, captioned."""
    grey = np.clip(_resized(film, side), 0, 1)[..., None]
    heat = np.clip(_resized(heatmap.cam, side), 0, 1)
    colour = matplotlib.colormaps[COLORMAP](heat)[..., :3]
    weight = BLEND * heat[..., None]
    rgb = grey * (1 - weight) + colour * weight
    image = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    _caption(image, f"{heatmap.region} {heatmap.probability:.2f} ({heatmap.method})")
    return image


def _caption(image: Image.Image, text: str) -> None:
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((4, 4), text)
    draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
    draw.text((4, 4), text, fill=(255, 255, 255))


def heatmap_file_name(stem: str, heatmap: Heatmap) -> str:
    return f"{stem}_{heatmap.region}_{heatmap.method}.png"


def write_overlays(
    film: torch.Tensor,
    heatmaps: Sequence[Heatmap],
    stem: str,
    out_dir: Path,
    side: int = OVERLAY_SIDE,
) -> tuple[Path, ...]:
    """One overlay PNG per heatmap of a (1, crop, crop) film: `<stem>_<region>_<method>.png`."""
    grey = film[0].cpu().numpy()
    paths = []
    for heatmap in heatmaps:
        path = Path(out_dir) / heatmap_file_name(stem, heatmap)
        write_atomic(path, encode_png(np.asarray(overlay(grey, heatmap, side))))
        paths.append(path)
    return tuple(paths)

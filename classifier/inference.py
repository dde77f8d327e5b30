"""A trained region classifier applied to films: checkpoint loading, preprocessing, scoring.

Films are prepared the way training saw them: the dataset builder's training image (letterboxed
to BUILD_SIZE, 16-bit), resized to the checkpoint's `resize`, centre-cropped to its
`input_size`, normalised with its mean and std.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from classifier import checkpoint
from classifier.checkpoint import CheckpointError, CheckpointMeta
from classifier.convert import training_image, unexpected_reason
from classifier.datasets import NORMAL, FilmDataset, LabelledImages
from classifier.dicomio import FilmError, read_film
from classifier.registry import ArchSpec, create_model, get_spec
from classifier.runtime import Runtime
from classifier.statedict import load_strict

BUILD_SIZE = 256  # `cxrclf dataset build`'s training image side


@dataclass(frozen=True)
class Classifier:
    """A region classifier in eval mode on its device, with the checkpoint's metadata."""

    path: Path
    meta: CheckpointMeta
    spec: ArchSpec
    net: nn.Module
    runtime: Runtime

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(label for label in self.meta.labels if label != NORMAL)

    @property
    def has_normal(self) -> bool:
        return NORMAL in self.meta.labels

    @torch.no_grad()
    def probabilities(self, films: torch.Tensor) -> np.ndarray:
        """(B, outputs) sigmoid outputs for (B, 1, crop, crop) grey films in [0, 1]."""
        return torch.sigmoid(self.runtime.forward(self.net, films, self.spec)).cpu().numpy()


def load_classifier(path: Path, device: str = "auto") -> Classifier:
    """The network of a region checkpoint (best.pt, last.pt or an exported file)."""
    path = Path(path)
    saved = checkpoint.load(path)
    meta = saved.meta
    if meta.task != "regions":
        raise CheckpointError(
            f"{path} is a {meta.task} checkpoint (NIH pretraining), not a region classifier; "
            "use it as --init for `cxrclf train --pretrain chestx14`"
        )
    model = create_model(meta.arch, len(meta.labels))
    load_strict(model, saved.model, str(path))
    runtime = Runtime.pick(device, channels_last=True)
    net = runtime.place(model).eval()
    return Classifier(path, meta, get_spec(meta.arch), net, runtime)


def centre_crop(film: torch.Tensor, crop: int) -> torch.Tensor:
    top = (film.shape[-2] - crop) // 2
    left = (film.shape[-1] - crop) // 2
    return film[..., top : top + crop, left : left + crop]


def film_tensor(path: Path, resize: int) -> torch.Tensor:
    """Any film file (DICOM, PNG, JPEG) as a (1, resize, resize) tensor in [0, 1].

    Raises FilmError with the reason when the file cannot be read as a grey film.
    """
    pixels = training_image(read_film(Path(path)), BUILD_SIZE, 16)
    film = torch.from_numpy(pixels.astype(np.float32) / 65535.0)[None, None]
    if resize != BUILD_SIZE:
        film = F.interpolate(
            film, size=(resize, resize), mode="bilinear", antialias=True, align_corners=False
        )
    return film[0]


class _Files(Dataset):
    """Films from any files; an unreadable one yields a blank film and the reason."""

    def __init__(self, paths: Sequence[Path], resize: int, crop: int) -> None:
        self.paths = paths
        self.resize = resize
        self.crop = crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        try:
            film = film_tensor(self.paths[index], self.resize)
        except FilmError as err:
            return torch.zeros(1, self.crop, self.crop), err.reason
        except Exception as err:  # a reader bug must not end a batch job; it is reported
            return torch.zeros(1, self.crop, self.crop), unexpected_reason(err)
        return centre_crop(film, self.crop), ""


@dataclass(frozen=True)
class FileScores:
    paths: tuple[Path, ...]  # every file asked for, in order
    scores: np.ndarray  # (files, outputs); NaN rows for unreadable files
    reasons: tuple[str, ...]  # "" where the file was read


def _batches(loader: Iterable, progress: bool, what: str, total: int) -> Iterable:
    return tqdm(loader, desc=what, total=total, disable=not progress, unit="batch")


def score_files(
    clf: Classifier,
    paths: Sequence[Path],
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
) -> FileScores:
    """Probabilities for film files; unreadable files are kept, with NaN scores and a reason."""
    data = _Files(list(paths), clf.meta.resize, clf.meta.input_size)
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers)
    scores, reasons = [], []
    for films, why in _batches(loader, progress, "predict", len(loader)):
        probs = clf.probabilities(films)
        probs[np.array([bool(r) for r in why])] = np.nan
        scores.append(probs)
        reasons.extend(why)
    outputs = len(clf.meta.labels)
    matrix = np.concatenate(scores) if scores else np.empty((0, outputs), np.float32)
    return FileScores(tuple(paths), matrix, tuple(reasons))


def score_images(
    clf: Classifier,
    images: LabelledImages,
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
    what: str = "score",
) -> np.ndarray:
    """Probabilities (films, outputs) for a manifest split, with the training pipeline's
    validation transform (PNG decode, resize, centre crop)."""
    data = FilmDataset(images, clf.meta.resize, clf.meta.input_size, train=False)
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers)
    out = [clf.probabilities(films) for films, _ in _batches(loader, progress, what, len(loader))]
    return np.concatenate(out)

"""A trained region classifier applied to films: checkpoint loading, preprocessing, scoring.

A film file is prepared exactly as training saw its film, from the checkpoint's preprocessing
record (classifier.run.Preprocessing) alone: the dataset builder's training image at the
recorded side, bit depth and windowing, scaled to [0, 1] as its PNG was read, resized to the
recorded `resize` by the same function, centre-cropped to `crop`, normalised with the recorded
mean and std. Nothing here assumes a build size or bit depth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from classifier.data.convert import training_image, unexpected_reason
from classifier.data.dicomio import FilmError, read_film
from classifier.inference.export import (
    INPUT,
    OUTPUTS,
    ExportError,
    Format,
    read_onnx,
    read_weights,
    regular_file,
)
from classifier.models.checkpoint import CheckpointError, CheckpointMeta, network
from classifier.models.registry import ArchSpec, get_spec
from classifier.run import WINDOWING, Preprocessing, Task
from classifier.training.datasets import NORMAL, FilmDataset, LabelledImages, grey_tensor
from classifier.training.runtime import DeviceError, Runtime, device_named


def _regions(meta: CheckpointMeta) -> tuple[str, ...]:
    return tuple(label for label in meta.labels if label != NORMAL)


class Scorer(Protocol):
    """What prediction needs of a model: its file, metadata and probabilities for films.
    A `Classifier` (PyTorch) and an `OnnxClassifier` (ONNX Runtime) both are one."""

    path: Path
    meta: CheckpointMeta

    @property
    def regions(self) -> tuple[str, ...]: ...

    def probabilities(self, films: torch.Tensor) -> np.ndarray: ...


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
        return _regions(self.meta)

    @torch.no_grad()
    def probabilities(self, films: torch.Tensor) -> np.ndarray:
        """(B, outputs) sigmoid outputs for (B, 1, crop, crop) grey films in [0, 1]."""
        prep = self.meta.preprocessing
        logits = self.runtime.forward(self.net, films, prep.mean, prep.std)
        return torch.sigmoid(logits).cpu().numpy()


@dataclass(frozen=True)
class OnnxClassifier:
    """An exported ONNX model run by ONNX Runtime (no PyTorch network: no heatmaps)."""

    path: Path
    meta: CheckpointMeta
    session: Any  # onnxruntime.InferenceSession

    @property
    def regions(self) -> tuple[str, ...]:
        return _regions(self.meta)

    def probabilities(self, films: torch.Tensor) -> np.ndarray:
        x = np.ascontiguousarray(films.numpy(), dtype=np.float32)
        (probs,) = self.session.run([OUTPUTS[1]], {INPUT: x})
        return probs


def _checked(meta: CheckpointMeta, path: Path) -> CheckpointMeta:
    """A region model whose films this version can make."""
    if meta.task is not Task.REGIONS:
        exported = Format.detect(path) is not None
        what, use = (
            ("export", "use its checkpoint as --init instead")
            if exported
            else ("checkpoint", "use it as --init for `cxrclf train --pretrain chestx14`")
        )
        raise CheckpointError(
            f"{path} is a {meta.task} {what} (NIH pretraining), not a region classifier; {use}"
        )
    if meta.preprocessing.windowing != WINDOWING:
        raise CheckpointError(
            f"{path} was trained on films windowed {meta.preprocessing.windowing!r}; this "
            f"version makes films only as {WINDOWING!r}"
        )
    return meta


def load_classifier(path: Path, device: str = "auto") -> Classifier:
    """The PyTorch network of a region checkpoint (best.pt, last.pt) or a .safetensors export."""
    path = Path(path)
    meta, state = read_weights(path)
    _checked(meta, path)
    runtime = Runtime.pick(device, channels_last=True)
    net = runtime.place(network(meta, state, str(path)))
    return Classifier(path, meta, get_spec(meta.arch), net, runtime)


def _onnx_providers(device: str) -> list[tuple[str, dict[str, str]]]:
    import onnxruntime

    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    named = device_named("cuda" if device == "auto" and cuda else device)
    if named.type == "cuda" and not cuda:
        raise DeviceError(f"--device {device}: this onnxruntime has no CUDA provider")
    cpu = ("CPUExecutionProvider", {})
    if named.type == "cpu":
        return [cpu]
    return [("CUDAExecutionProvider", {"device_id": str(named.index or 0)}), cpu]


def _graph_problem(session: Any, meta: CheckpointMeta) -> str:
    """How the graph differs from what its metadata promises ("" when it does not)."""
    crop, width = meta.preprocessing.crop, len(meta.labels)
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if list(inputs) != [INPUT]:
        return f"its inputs are {list(inputs)}, not [{INPUT!r}]"
    if len(inputs[INPUT]) != 4 or list(inputs[INPUT][1:]) != [1, crop, crop]:
        return f"input {INPUT!r} has shape {inputs[INPUT]}, not (batch, 1, {crop}, {crop})"
    if OUTPUTS[1] not in outputs:
        return f"it has no output {OUTPUTS[1]!r} (outputs: {list(outputs)})"
    shape = outputs[OUTPUTS[1]]
    if len(shape) != 2 or shape[1] != width:
        return f"output {OUTPUTS[1]!r} has shape {shape}, its metadata names {width} labels"
    return ""


def load_onnx(path: Path, device: str = "auto") -> OnnxClassifier:
    """An exported .onnx model in an ONNX Runtime session, checked against its metadata."""
    path = Path(path)
    exported, data = read_onnx(path)
    meta = _checked(exported.meta, path)
    providers = _onnx_providers(device)
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(data, providers=providers)
    except Exception as exc:  # onnxruntime's own error types (Fail, InvalidGraph, …)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{path}: ONNX Runtime cannot load it ({first})") from exc
    problem = _graph_problem(session, meta)
    if problem:
        raise ExportError(f"{path}: the graph does not match its metadata: {problem}")
    return OnnxClassifier(path, meta, session)


def load_scorer(path: Path, device: str = "auto") -> Classifier | OnnxClassifier:
    """Any model `cxrclf predict` takes: a checkpoint, a .safetensors or an .onnx export
    (told apart by their first bytes, so a misnamed file still loads)."""
    path = Path(path)
    regular_file(path)
    if Format.detect(path) is Format.ONNX:
        return load_onnx(path, device)
    return load_classifier(path, device)


def centre_crop(film: torch.Tensor, crop: int) -> torch.Tensor:
    top = (film.shape[-2] - crop) // 2
    left = (film.shape[-1] - crop) // 2
    return film[..., top : top + crop, left : left + crop]


def film_tensor(path: Path, prep: Preprocessing) -> torch.Tensor:
    """Any film file (DICOM, PNG, JPEG) as a (1, resize, resize) tensor in [0, 1], made as the
    training films of `prep` were: their training image, then their resize.

    Raises FilmError with the reason when the file cannot be read as a grey film.
    """
    pixels = training_image(read_film(Path(path)), prep.build_size, prep.bit_depth)
    return grey_tensor(pixels.astype(np.float32) / (2**prep.bit_depth - 1), prep.resize)


def prepare_file(path: Path, prep: Preprocessing) -> torch.Tensor:
    """The (1, crop, crop) film the network sees for a film file: what `cxrclf predict` and
    `cxrclf heatmap` feed it, equal to training's validation view of the same film."""
    return centre_crop(film_tensor(path, prep), prep.crop)


class _Files(Dataset):
    """Films from any files; an unreadable one yields a blank film and the reason."""

    def __init__(self, paths: Sequence[Path], prep: Preprocessing) -> None:
        self.paths = paths
        self.prep = prep

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str]:
        blank = torch.zeros(1, self.prep.crop, self.prep.crop)
        try:
            return prepare_file(self.paths[index], self.prep), ""
        except FilmError as err:
            return blank, err.reason
        except Exception as err:  # a reader bug must not end a batch job; it is reported
            return blank, unexpected_reason(err)


NOT_FINITE = "the model gave no finite score (NaN or inf): check its weights"


@dataclass(frozen=True)
class FileScores:
    paths: tuple[Path, ...]  # every file asked for, in order
    scores: np.ndarray  # (files, outputs); NaN rows for unreadable files
    reasons: tuple[str, ...]  # "" where the file was read


def _batches(loader: Iterable, progress: bool, what: str, total: int) -> Iterable:
    return tqdm(loader, desc=what, total=total, disable=not progress, unit="batch")


def score_files(
    clf: Scorer,
    paths: Sequence[Path],
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
) -> FileScores:
    """Probabilities for film files; unreadable files are kept, with NaN scores and a reason."""
    data = _Files(list(paths), clf.meta.preprocessing)
    loader = DataLoader(data, batch_size=batch_size, num_workers=workers)
    scores, reasons = [], []
    for films, why in _batches(loader, progress, "predict", len(loader)):
        probs = clf.probabilities(films)
        # A film the network scored NaN (broken weights, an overflow) has no decision: it is
        # reported like an unreadable one, never as a film with every region normal.
        finite = np.isfinite(probs).all(axis=1)
        why = [r or ("" if ok else NOT_FINITE) for r, ok in zip(why, finite, strict=True)]
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

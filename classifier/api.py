"""The classifier from Python: load a trained model, score films, as `cxrclf predict` does.

import classifier
model = classifier.load("runs/resnet34/best.pt")     # or model.safetensors / model.onnx
table = classifier.predict(model, ["film.dcm", "pacs_export/"])
table[["file", "heart", "heart_abnormal"]]

film = classifier.prepare_file("film.dcm", model.meta.preprocessing)  # (1, crop, crop)
model.probabilities(film[None])                      # (1, outputs), in model.meta.labels
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from classifier.inference import predict as predicting
from classifier.inference.scoring import Classifier, OnnxClassifier, load_scorer


def load(path: str | Path, device: str = "auto") -> Classifier | OnnxClassifier:
    """A region model from a checkpoint (best.pt, last.pt), a .safetensors export (both run
    by PyTorch on `device`: auto, cpu, cuda) or an .onnx export (run by ONNX Runtime).

    Raises CheckpointError or ExportError (ValueErrors) naming the file when it cannot be used.
    """
    return load_scorer(Path(path), device)


def predict(
    model: Classifier | OnnxClassifier | str | Path,
    films: str | Path | Iterable[str | Path],
    confidence: float | None = None,
    device: str = "auto",
    batch_size: int = 32,
    workers: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """The rows `cxrclf predict` writes: one per film file (DICOM, PNG, JPEG; folders are
    searched), with the region probabilities, the 0/1 decisions under the calibration fitted by
    `cxrclf evaluate` (0.5 where there is none), the threshold source and, with a `confidence`,
    the label tree's verdict. An unreadable film is a row with `error` set, never an exception.
    A model given as a path is loaded on `device` (see `load`).
    """
    given = Path(model) if isinstance(model, str) else model
    paths = [films] if isinstance(films, (str, Path)) else list(films)
    result = predicting.predict(
        given, map(Path, paths), confidence, device, batch_size, workers, progress
    )
    return result.table

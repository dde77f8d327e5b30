"""cxrclf: image datasets from DICOM plus report labels, and multi-label CNN training.

    import classifier
    model = classifier.load("runs/resnet34/best.pt")   # or an exported .safetensors / .onnx
    classifier.predict(model, ["film.dcm", "folder/"])  # the rows of `cxrclf predict`

Importing this package loads nothing: torch is imported when one of these is first used, so
`classifier.run` (the records every stage shares) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.lazy import lazy_exports

__all__ = ["Classifier", "Format", "OnnxClassifier", "export", "load", "predict", "prepare_file"]

_WHERE = {
    "Classifier": "classifier.inference.scoring",
    "OnnxClassifier": "classifier.inference.scoring",
    "prepare_file": "classifier.inference.scoring",
    "export": "classifier.inference.export",
    "Format": "classifier.inference.export",
    "load": "classifier.api",
    "predict": "classifier.api",
}

if TYPE_CHECKING:
    from classifier.api import load, predict
    from classifier.inference.export import Format, export
    from classifier.inference.scoring import Classifier, OnnxClassifier, prepare_file


__getattr__, __dir__ = lazy_exports("classifier", _WHERE, globals())

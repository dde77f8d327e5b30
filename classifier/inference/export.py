"""Models that leave the toolkit: a checkpoint as safetensors weights or an ONNX graph.

Both files carry the same metadata (string key/values: safetensors header metadata, ONNX
`metadata_props`), so a file alone says how to prepare a film and what each output means:

- `cxrclf.format` / `cxrclf.format_version`: this record (EXPORT_FORMAT, 1);
- `cxrclf.meta`: the checkpoint's metadata as JSON (architecture, task, the preprocessing
  record with the output labels in head order, epoch, metrics, versions);
- `cxrclf.calibration`: the thresholds and label tree `cxrclf evaluate` fitted, as JSON, when
  the checkpoint had been evaluated;
- `labels`, `arch`, `input`, `torchvision`: the same facts in plain words for other tools.

The safetensors file holds the bare network's state dict under torchvision's own key names
(`torchvision.models.resnet34(num_classes=N).load_state_dict(load_file(path))` works). The
ONNX graph takes what training fed the preprocessing step, grey films scaled to [0, 1], and
does the rest itself: input `film` (batch, 1, crop, crop) float32 with a dynamic batch, the
channel expansion and mean/std normalisation, the network; outputs `logits` and
`probabilities` (batch, outputs).
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from classifier.files import write_bytes_atomic
from classifier.inference.calibration import Calibration, json_float, read_calibration
from classifier.models import checkpoint
from classifier.models.checkpoint import CheckpointMeta, network
from classifier.run import calibration_path
from classifier.training.datasets import prepare_batch

EXPORT_FORMAT = "cxrclf-export"
EXPORT_VERSION = 1
DEFAULT_OPSET = 18
# torch's exporter has implementations from opset 18 on; asked for 17 it makes 18 and fails to
# convert down, so 17 is refused up front.
MIN_OPSET = 18
INPUT = "film"
OUTPUTS = ("logits", "probabilities")
# The export check: ONNX Runtime against PyTorch on random films, in logits.
AGREEMENT = 1e-3
ONNX_EXTRA = "pip install 'cxr-toolkit[onnx]'"


class ExportError(ValueError):
    """A file that cannot be exported, or an exported file that cannot be read."""


class Format(str, Enum):
    SAFETENSORS = "safetensors"
    ONNX = "onnx"

    @property
    def suffix(self) -> str:
        return "." + self.value

    @classmethod
    def of(cls, path: Path) -> Format | None:
        """The export format a file name says (by suffix), None for anything else."""
        return {f.suffix: f for f in cls}.get(Path(path).suffix.lower())

    @classmethod
    def detect(cls, path: Path) -> Format | None:
        """What a model file holds, by its first bytes (None: one of our .pt checkpoints);
        the suffix decides only for a file too short or unreadable to tell."""
        try:
            with open(path, "rb") as handle:  # regular files only: callers check first
                head = handle.read(9)
        except OSError:
            return cls.of(path)
        if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # torch.save's zip, old pickles
            return None
        if len(head) == 9 and head[8:9] == b"{":  # safetensors: u64 header length, JSON
            return cls.SAFETENSORS
        if head[:1] == b"\x08":  # an ONNX ModelProto opens with field 1, ir_version
            return cls.ONNX
        return cls.of(path)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Exported:
    """What an exported file says about itself."""

    meta: CheckpointMeta
    calibration: Calibration | None


def _torchvision_line(meta: CheckpointMeta) -> str:
    if meta.arch.endswith("_mdconv"):  # MD-Conv layers are ours, not torchvision's
        return (
            f"classifier.models.registry.create_model({meta.arch!r}, {len(meta.labels)}) "
            "(MD-Conv stage 5; not a torchvision layout)"
        )
    return f"torchvision.models.{meta.arch}(num_classes={len(meta.labels)})"


def metadata(meta: CheckpointMeta, calibration: Calibration | None) -> dict[str, str]:
    """The string metadata both formats carry (module docstring)."""
    prep = meta.preprocessing
    record = {
        "cxrclf.format": EXPORT_FORMAT,
        "cxrclf.format_version": str(EXPORT_VERSION),
        "cxrclf.meta": _json(meta.to_dict() | {"metrics": _finite_or_null(meta.metrics)}),
        "arch": meta.arch,
        "labels": json.dumps(list(meta.labels), ensure_ascii=False),
        "input": (
            f"grey film, 1x{prep.crop}x{prep.crop}, scaled to [0, 1] from the "
            f"{prep.build_size}px {prep.bit_depth}-bit training image ({prep.windowing}) "
            f"resized to {prep.resize} and centre-cropped; normalised with mean "
            f"{list(prep.mean)} std {list(prep.std)} after repeating it to "
            f"{len(prep.mean)} channels"
        ),
        "torchvision": _torchvision_line(meta),
    }
    if calibration is not None:
        record["cxrclf.calibration"] = _json(calibration.to_dict())
    return record


def _finite_or_null(values: dict[str, float]) -> dict[str, float | None]:
    return {k: json_float(v) for k, v in values.items()}


def _json(value: Any) -> str:
    """Strict JSON (no NaN, which other languages' parsers refuse)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def read_metadata(record: dict[str, str], where: str) -> Exported:
    """The metadata of an exported file, checked as a checkpoint's is."""
    if record.get("cxrclf.format") != EXPORT_FORMAT:
        raise ExportError(f"{where}: not a cxrclf export (no {EXPORT_FORMAT} metadata)")
    if record.get("cxrclf.format_version") != str(EXPORT_VERSION):
        raise ExportError(
            f"{where}: export version {record.get('cxrclf.format_version')!r}, "
            f"this version reads {EXPORT_VERSION}"
        )
    try:
        meta = CheckpointMeta.from_dict(json.loads(record["cxrclf.meta"]))
        calibration = record.get("cxrclf.calibration")
        if calibration is not None:
            calibration = Calibration.from_dict(json.loads(calibration), "cxrclf.calibration")
        return Exported(meta, calibration)
    except (KeyError, ValueError) as exc:  # CheckpointError is a ValueError
        raise ExportError(f"{where}: bad export metadata ({exc})") from exc


class ServedNetwork(nn.Module):
    """The network with its preprocessing tail: grey films in [0, 1] -> (logits, probabilities).
    What the ONNX graph computes."""

    def __init__(self, net: nn.Module, meta: CheckpointMeta) -> None:
        super().__init__()
        self.net = net
        self.mean = meta.preprocessing.mean
        self.std = meta.preprocessing.std

    def forward(self, film: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(prepare_batch(film, self.mean, self.std))
        return logits, torch.sigmoid(logits)


def _safetensors(net: nn.Module, record: dict[str, str]) -> bytes:
    from safetensors.torch import save

    # Contiguous copies: safetensors stores dense row-major tensors only.
    weights = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    return save(weights, metadata=record)


def _onnx_module() -> Any:
    try:
        import onnx
        import onnxruntime  # noqa: F401 - the export is checked with it
        import onnxscript  # noqa: F401 - torch's exporter needs it
    except ImportError as exc:
        raise ExportError(f"ONNX needs onnx, onnxscript and onnxruntime: {ONNX_EXTRA}") from exc
    return onnx


def _onnx(net: nn.Module, meta: CheckpointMeta, record: dict[str, str], opset: int) -> bytes:
    onnx = _onnx_module()
    served = ServedNetwork(net, meta).eval()
    crop = meta.preprocessing.crop
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        served,
        (torch.rand(2, 1, crop, crop),),
        dynamo=True,
        input_names=[INPUT],
        output_names=list(OUTPUTS),
        opset_version=opset,
        dynamic_shapes={"film": {0: batch}},
        external_data=False,
        verbose=False,
    )
    model = program.model_proto
    made = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if made != [opset]:
        raise ExportError(
            f"torch's ONNX exporter could not make opset {opset} (it made {made}); "
            "choose another --opset"
        )
    for key, value in record.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    buffer = io.BytesIO()
    onnx.save_model(model, buffer)
    return buffer.getvalue()


def onnx_agreement(data: bytes, net: nn.Module, meta: CheckpointMeta, films: int = 3) -> float:
    """Largest |logit difference| between ONNX Runtime and PyTorch on random films."""
    import onnxruntime

    crop = meta.preprocessing.crop
    x = torch.rand(films, 1, crop, crop, generator=torch.Generator().manual_seed(0))
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (logits,) = session.run([OUTPUTS[0]], {INPUT: x.numpy()})
    with torch.no_grad():
        expected = ServedNetwork(net, meta)(x)[0].numpy()
    return float(np.abs(logits - expected).max())


@dataclass(frozen=True)
class ExportResult:
    source: Path
    out: Path
    format: Format
    meta: CheckpointMeta
    calibrated: bool
    size: int  # bytes written
    difference: float | None  # ONNX only: onnx_agreement


def _check_opset(opset: int) -> None:
    newest = _onnx_module().defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ExportError(
            f"--opset {opset}: ONNX export needs an opset from {MIN_OPSET} to {newest} "
            "(the newest this onnx knows)"
        )


def _checked_calibration(source: Path, meta: CheckpointMeta) -> Calibration | None:
    try:
        calibration = calibration_of(source)
    except ValueError as exc:
        raise ExportError(str(exc)) from exc
    problem = foreign_regions(calibration, meta.labels, source)
    if problem:
        raise ExportError(problem)
    return calibration


def _finite(state: dict[str, torch.Tensor], source: Path) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ExportError(
            f"{source}: weights that are not finite (NaN or inf) in {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        )


def export(source: Path, out: Path, fmt: Format, opset: int = DEFAULT_OPSET) -> ExportResult:
    """Write the model `source` (a checkpoint, or a .safetensors export to turn into ONNX) with
    its calibration (beside it, else inside it) to `out`."""
    source, out = Path(source), Path(out)
    if fmt is Format.ONNX:
        _check_opset(opset)  # and refuse before the (slow) load when the extra is missing
    meta, state = read_weights(source)
    _finite(state, source)
    calibration = _checked_calibration(source, meta)
    net = network(meta, state, str(source))
    record = metadata(meta, calibration)
    difference = None
    if fmt is Format.SAFETENSORS:
        data = _safetensors(net, record)
    else:
        data = _onnx(net, meta, record, opset)
        difference = onnx_agreement(data, net, meta)
        if not difference <= AGREEMENT:  # NaN fails too
            raise ExportError(
                f"{source}: the ONNX graph disagrees with PyTorch by {difference:.3g} in the "
                f"logits (> {AGREEMENT}); nothing written"
            )
    write_bytes_atomic(out, data, fsync=True)
    return ExportResult(source, out, fmt, meta, calibration is not None, len(data), difference)


def read_safetensors(path: Path, weights: bool = True) -> tuple[Exported, dict[str, torch.Tensor]]:
    """The metadata and (unless `weights` is False: an empty dict) the state dict of an
    exported .safetensors file; the header is read first, so a foreign file loads nothing."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    regular_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            exported = read_metadata(handle.metadata() or {}, str(path))
        state = load_file(str(path)) if weights else {}
    except (SafetensorError, OSError, ValueError) as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"{path}: not a readable safetensors file ({exc})") from exc
    return exported, state


def regular_file(path: Path) -> None:
    """Model files are read whole: a FIFO or a device would block or never end."""
    if not Path(path).is_file():
        if not Path(path).exists():  # (a broken link or a link loop too)
            raise ExportError(f"{path}: no such checkpoint file")
        raise ExportError(f"{path} is not a regular file")


def read_onnx(path: Path) -> tuple[Exported, bytes]:
    """The metadata and the bytes of an exported .onnx file."""
    onnx = _onnx_module()
    regular_file(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ExportError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        model = onnx.load_model_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError and others for a bad file
        raise ExportError(f"{path}: not a readable ONNX model ({exc})") from exc
    return read_metadata({p.key: p.value for p in model.metadata_props}, str(path)), data


def read_weights(path: Path) -> tuple[CheckpointMeta, dict[str, torch.Tensor]]:
    """The metadata and weights of a checkpoint or a .safetensors export (not an .onnx)."""
    path = Path(path)
    regular_file(path)
    fmt = Format.detect(path)
    if fmt is Format.ONNX:
        raise ExportError(
            f"{path} is an ONNX export, which holds no PyTorch network; give the checkpoint "
            "or its .safetensors export"
        )
    if fmt is Format.SAFETENSORS:
        exported, state = read_safetensors(path)
        return exported.meta, state
    saved = checkpoint.load(path)
    return saved.meta, saved.model


def calibration_where(path: Path) -> Path:
    """The file `calibration_of(path)` reads: beside the model, or the export itself."""
    path = Path(path)
    beside = calibration_path(path)
    return path if Format.detect(path) and not beside.is_file() else beside


def foreign_regions(calibration: Calibration | None, outputs: Sequence[str], path: Path) -> str:
    """Why `calibration` cannot decide for the model at `path` ("" when it can): it names
    regions the model does not output (fitted for another model, or edited)."""
    unknown = sorted(calibration.regions() - set(outputs)) if calibration is not None else []
    if not unknown:
        return ""
    return (
        f"{calibration_where(path)}: the calibration names {', '.join(unknown)}, which "
        f"{Path(path).name} does not output ({', '.join(outputs)})"
    )


def calibration_of(path: Path) -> Calibration | None:
    """The calibration prediction obeys for a model file: the one `cxrclf evaluate` saved
    beside it, else (for an export) the one embedded when it was exported."""
    path = Path(path)
    beside = read_calibration(path)
    if beside is not None:
        return beside
    regular_file(path)
    fmt = Format.detect(path)
    if fmt is Format.SAFETENSORS:
        return read_safetensors(path, weights=False)[0].calibration
    if fmt is Format.ONNX:
        return read_onnx(path)[0].calibration
    return None

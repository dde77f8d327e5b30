"""Exported models: safetensors weights load into a bare torchvision network, the ONNX graph
matches PyTorch on phantom films with any batch size, both carry the preprocessing, labels and
calibration, and bad or foreign files are refused in one line."""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file

from classifier.demo.phantom import draw_phantom
from classifier.inference.calibration import Calibration
from classifier.inference.export import (
    DEFAULT_OPSET,
    ExportError,
    Format,
    calibration_of,
    export,
    read_safetensors,
)
from classifier.inference.predict import PredictError, predict
from classifier.inference.scoring import (
    NOT_FINITE,
    load_classifier,
    load_onnx,
    load_scorer,
    prepare_file,
)
from classifier.models import checkpoint
from classifier.models.checkpoint import CheckpointError, CheckpointMeta
from classifier.models.registry import create_model
from classifier.run import Preprocessing
from labeler.packs import region_ids
from tests.conftest import DemoRun

pytestmark = pytest.mark.slow
onnxruntime = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def evaluated(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run's best.pt with a calibration beside it, as `cxrclf evaluate` leaves it."""
    folder = tmp_path_factory.mktemp("export")
    ckpt = folder / "best.pt"
    shutil.copy(demo_run.run_dir / "best.pt", ckpt)
    calibration = Calibration("best.pt", "youden", dict.fromkeys(region_ids(), 0.4), None, "x")
    text = json.dumps(calibration.to_dict())
    (folder / "best.calibration.json").write_text(text, encoding="utf-8")
    return ckpt


@pytest.fixture(scope="module")
def onnx_file(evaluated: Path) -> Path:
    out = evaluated.parent / "model.onnx"
    export(evaluated, out, Format.ONNX)
    return out


@pytest.fixture(scope="module")
def phantoms(evaluated: Path) -> torch.Tensor:
    """Five phantom films as the network sees them."""
    prep = checkpoint.load(evaluated).meta.preprocessing
    rng = np.random.default_rng(3)
    paths = []
    for i, finding in enumerate(({}, {"heart": True}, {"lungs": True}, {"aorta": True}, {})):
        path = evaluated.parent / f"phantom{i}.png"
        draw_phantom(finding, rng, size=128).save(path)
        paths.append(path)
    return torch.stack([prepare_file(p, prep) for p in paths])


def test_safetensors_loads_into_bare_torchvision(evaluated: Path, phantoms: torch.Tensor) -> None:
    out = evaluated.parent / "model.safetensors"
    result = export(evaluated, out, Format.SAFETENSORS)
    assert result.calibrated and result.size == out.stat().st_size
    labels = checkpoint.load(evaluated).meta.labels
    bare = torchvision.models.resnet34(num_classes=len(labels)).eval()
    bare.load_state_dict(load_file(str(out)))  # strict: every key, torchvision's names
    ours = load_classifier(evaluated, "cpu")
    mean = torch.tensor(ours.meta.preprocessing.mean).view(1, 3, 1, 1)
    std = torch.tensor(ours.meta.preprocessing.std).view(1, 3, 1, 1)
    with torch.no_grad():
        probs = torch.sigmoid(bare((phantoms.expand(-1, 3, -1, -1) - mean) / std)).numpy()
    np.testing.assert_allclose(probs, ours.probabilities(phantoms), atol=1e-6)

    exported, state = read_safetensors(out)
    assert exported.meta == ours.meta
    assert exported.calibration == calibration_of(evaluated)
    assert state.keys() == bare.state_dict().keys()


@pytest.mark.parametrize(
    "arch", ["alexnet", "vgg16", "resnet34", "densenet121", "mobilenet_v2", "mobilenet_v2_mdconv"]
)
def test_every_network_exports_loadable_weights(arch: str, tmp_path: Path) -> None:
    labels = (*region_ids(), "normal")
    prep = Preprocessing(None, 80, 64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), labels)
    model = create_model(arch, len(labels))
    meta = CheckpointMeta(arch=arch, task="regions", preprocessing=prep, epoch=1)
    checkpoint.save(tmp_path / "best.pt", checkpoint.Checkpoint(meta, model.state_dict()))
    out = tmp_path / "m.safetensors"
    export(tmp_path / "best.pt", out, Format.SAFETENSORS)
    record = read_safetensors(out)[0]
    assert record.meta.labels == labels and record.calibration is None
    if arch.endswith("_mdconv"):  # not a torchvision layout: the toolkit's factory loads it
        bare = create_model(arch, len(labels))
    else:
        bare = getattr(torchvision.models, arch)(num_classes=len(labels))
    bare.load_state_dict(load_file(str(out)))


def test_onnx_matches_pytorch_on_phantoms_at_any_batch(
    evaluated: Path, onnx_file: Path, phantoms: torch.Tensor
) -> None:
    ours = load_classifier(evaluated, "cpu")
    served = load_onnx(onnx_file, "cpu")
    assert served.meta == ours.meta and served.regions == ours.regions
    expected = ours.probabilities(phantoms)
    for start, stop in ((0, 1), (1, 3), (0, 5)):  # batches of 1, 2 and 5 films
        got = served.probabilities(phantoms[start:stop])
        np.testing.assert_allclose(got, expected[start:stop], atol=1e-4)

    import onnx

    model = onnx.load(str(onnx_file))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (film,) = model.graph.input
    assert film.name == "film"
    dims = film.type.tensor_type.shape.dim
    assert not dims[0].HasField("dim_value")  # a dynamic batch
    assert [d.dim_value for d in dims[1:]] == [1, 64, 64]
    assert [o.name for o in model.graph.output] == ["logits", "probabilities"]
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["labels"]) == list(ours.meta.labels)
    assert json.loads(props["cxrclf.meta"])["preprocessing"]["crop"] == 64
    assert json.loads(props["cxrclf.calibration"])["thresholds"]["heart"] == 0.4
    assert calibration_of(onnx_file) == calibration_of(evaluated)


def test_a_calibration_beside_the_export_wins(onnx_file: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m.onnx"
    shutil.copy(onnx_file, copy)
    beside = Calibration("m.onnx", "youden", dict.fromkeys(region_ids(), 0.7), None)
    (tmp_path / "m.calibration.json").write_text(json.dumps(beside.to_dict()), encoding="utf-8")
    assert calibration_of(copy).thresholds["heart"] == 0.7


def test_bad_requests_and_foreign_files_are_refused(
    evaluated: Path, onnx_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ExportError, match="needs an opset from 18 to"):
        export(evaluated, tmp_path / "m.onnx", Format.ONNX, opset=16)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ExportError, match=r"foreign.safetensors: not a cxrclf export"):
        load_scorer(foreign)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(ExportError, match=r"junk.safetensors: not a readable safetensors file"):
        load_scorer(junk)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_file.read_bytes()[:5000])
    with pytest.raises(ExportError, match=r"cut.onnx: not a readable ONNX model"):
        load_scorer(cut)
    with pytest.raises(ExportError, match="is an ONNX export, which holds no PyTorch network"):
        load_classifier(onnx_file)
    # A pruned last.pt (--no-keep-last) has no weights to export.
    saved = checkpoint.load(evaluated)
    checkpoint.save(tmp_path / "last.pt", checkpoint.Checkpoint(saved.meta, {}, {"pruned": True}))
    with pytest.raises(CheckpointError, match="holds no weights"):
        export(tmp_path / "last.pt", tmp_path / "x.safetensors", Format.SAFETENSORS)
    assert not (tmp_path / "x.safetensors").exists()
    # Without the [onnx] extra: one line saying what to install, before any work.
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(ExportError, match=r"pip install 'cxr-toolkit\[onnx\]'"):
        export(evaluated, tmp_path / "y.onnx", Format.ONNX, DEFAULT_OPSET)


# Hostile and inconsistent exports (the probe of issue 15): each is refused in one line naming
# the file, or becomes an error row; none is a traceback or a silently wrong table.


def _tiny(folder: Path, **prep_changes) -> tuple[Path, CheckpointMeta]:
    labels = tuple(region_ids())
    fields = dict(film=None, resize=44, crop=40, mean=(0.5,) * 3, std=(0.25,) * 3, labels=labels)
    prep = Preprocessing(**(fields | prep_changes))
    meta = CheckpointMeta(arch="tinynet", task="regions", preprocessing=prep, epoch=1)
    torch.manual_seed(0)
    state = create_model("tinynet", len(labels)).state_dict()
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint.save(folder / "best.pt", checkpoint.Checkpoint(meta, state))
    return folder / "best.pt", meta


def _edited(source: Path, out: Path, **record_changes: str) -> Path:
    """A .safetensors export of `source` with some metadata values replaced."""
    from safetensors import safe_open

    with safe_open(str(source), "pt") as handle:
        record = handle.metadata()
    save_file(load_file(str(source)), str(out), metadata=record | record_changes)
    return out


def _meta_json(source: Path, **changes) -> str:
    from safetensors import safe_open

    with safe_open(str(source), "pt") as handle:
        meta = json.loads(handle.metadata()["cxrclf.meta"])
    prep = meta["preprocessing"] | changes
    return json.dumps(meta | {"preprocessing": prep})


def test_inconsistent_safetensors_metadata_is_refused(tiny_arch: str, tmp_path: Path) -> None:
    ckpt, _ = _tiny(tmp_path / "run")
    good = tmp_path / "good.safetensors"
    export(ckpt, good, Format.SAFETENSORS)
    calibration = Calibration("best.pt", "youden", dict.fromkeys(region_ids(), 0.5), None)

    def with_thresholds(value: object) -> str:
        return json.dumps(calibration.to_dict() | {"thresholds": value})

    cases = {
        "thresholds must map regions to numbers": {"cxrclf.calibration": with_thresholds([0.1])},
        "outside \\[0, 1\\]": {"cxrclf.calibration": with_thresholds({"heart": -3})},
        "calibration version 99": {
            "cxrclf.calibration": json.dumps(calibration.to_dict() | {"version": 99})
        },
        "name an output twice": {"cxrclf.meta": _meta_json(good, labels=["heart"] * 5)},
        "labels must be a list of names": {"cxrclf.meta": _meta_json(good, labels="abcde")},
        "crop must be a whole number of pixels": {"cxrclf.meta": _meta_json(good, crop=40.7)},
    }
    for message, changes in cases.items():
        bad = _edited(good, tmp_path / "bad.safetensors", **changes)
        with pytest.raises(ExportError, match=rf"bad.safetensors: .*{message}"):
            load_scorer(bad, "cpu")
    one_channel = _meta_json(good, mean=[0.5], std=[0.25])
    bad = _edited(good, tmp_path / "bad.safetensors", **{"cxrclf.meta": one_channel})
    with pytest.raises(CheckpointError, match="mean/std have 1 channel\\(s\\), tinynet takes 3"):
        load_scorer(bad, "cpu")
    # A calibration naming regions the model does not output is refused, not ignored.
    odd = json.dumps(
        Calibration("best.pt", "youden", {"Heart": 0.5}, None).to_dict(), allow_nan=False
    )
    bad = _edited(good, tmp_path / "odd.safetensors", **{"cxrclf.calibration": odd})
    with pytest.raises(PredictError, match="the calibration names Heart, which odd.safetensors"):
        predict(bad, [tmp_path], device="cpu")
    # Told apart by content: a safetensors export named .bin still loads as one.
    shutil.copy(good, tmp_path / "model.bin")
    assert load_scorer(tmp_path / "model.bin", "cpu").meta.arch == "tinynet"


def test_non_finite_weights_and_metrics(tiny_arch: str, tmp_path: Path) -> None:
    ckpt, meta = _tiny(tmp_path / "run")
    saved = checkpoint.load(ckpt)
    broken = dict(saved.model) | {"fc.bias": torch.full_like(saved.model["fc.bias"], math.nan)}
    checkpoint.save(tmp_path / "nan.pt", checkpoint.Checkpoint(meta, broken))
    with pytest.raises(ExportError, match="nan.pt: weights that are not finite .* in fc.bias"):
        export(tmp_path / "nan.pt", tmp_path / "nan.safetensors", Format.SAFETENSORS)
    # Such a model scores no film: an error row, not a film with every region normal.
    draw_phantom({}, np.random.default_rng(0), size=64).save(tmp_path / "f.png")
    table = predict(tmp_path / "nan.pt", [tmp_path / "f.png"], device="cpu").table
    assert table.loc[0, "error"] == NOT_FINITE
    assert table[[f"{r}_abnormal" for r in region_ids()]].isna().all(axis=None)
    # An undefined metric is JSON null in the metadata (strict JSON), NaN again when read.
    undefined = replace(meta, metrics={"val_mean_auc": math.nan, "val_loss": 0.5})
    checkpoint.save(tmp_path / "m.pt", checkpoint.Checkpoint(undefined, saved.model))
    export(tmp_path / "m.pt", tmp_path / "m.safetensors", Format.SAFETENSORS)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "m.safetensors"), "pt") as handle:
        text = handle.metadata()["cxrclf.meta"]
    assert '"val_mean_auc": null' in text and "NaN" not in text
    assert math.isnan(read_safetensors(tmp_path / "m.safetensors")[0].meta.metrics["val_mean_auc"])


def test_onnx_graph_that_contradicts_its_metadata_is_refused(
    tiny_arch: str, tmp_path: Path
) -> None:
    import onnx

    ckpt, _ = _tiny(tmp_path / "run")
    good = tmp_path / "good.onnx"
    with pytest.raises(ExportError, match="needs an opset from 18 to"):
        export(ckpt, good, Format.ONNX, opset=17)
    export(ckpt, good, Format.ONNX)
    props = {p.key: p.value for p in onnx.load(str(good)).metadata_props}
    meta = json.loads(props["cxrclf.meta"])

    def edited(name: str, **prep) -> Path:
        model = onnx.load(str(good))
        changed = json.dumps(meta | {"preprocessing": meta["preprocessing"] | prep})
        for entry in model.metadata_props:
            if entry.key == "cxrclf.meta":
                entry.value = changed
        onnx.save(model, str(tmp_path / name))
        return tmp_path / name

    with pytest.raises(ExportError, match=r"crop.onnx: the graph does not match its metadata"):
        load_scorer(edited("crop.onnx", crop=32), "cpu")
    four = region_ids()[:4]
    with pytest.raises(ExportError, match=r"metadata names 4 labels"):
        load_scorer(edited("labels.onnx", labels=list(four)), "cpu")
    cut = onnx.load(str(good))
    del cut.graph.node[len(cut.graph.node) // 2]
    onnx.save(cut, str(tmp_path / "cut.onnx"))
    with pytest.raises(ExportError, match=r"cut.onnx: ONNX Runtime cannot load it"):
        load_scorer(tmp_path / "cut.onnx", "cpu")

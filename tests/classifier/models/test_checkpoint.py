from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from classifier.models import checkpoint as ckpt
from classifier.models.registry import create_model, get_spec
from classifier.models.statedict import KeyMismatchError
from classifier.run import WINDOWING, FilmFormat, Preprocessing

REGIONS = ("thorax", "lungs", "aorta", "heart", "diaphragm")
PREP = Preprocessing(
    film=FilmFormat(320, 16, WINDOWING, REGIONS),
    resize=256,
    crop=224,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    labels=REGIONS,
)
META = ckpt.CheckpointMeta(
    arch="resnet34",
    task="regions",
    preprocessing=PREP,
    epoch=3,
    metrics={"val_mean_auc": 0.75},
)


def _small() -> dict[str, torch.Tensor]:
    return {"w": torch.arange(6.0).reshape(2, 3)}


def test_round_trip_keeps_meta_weights_and_train_state(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    state = {"epoch": 3, "rng": {"torch": torch.get_rng_state()}, "history": [{"epoch": 1}]}
    ckpt.save(path, ckpt.Checkpoint(META, _small(), state))
    back = ckpt.load(path)
    assert back.meta == META
    assert back.meta.versions["torch"] == torch.__version__
    assert torch.equal(back.model["w"], _small()["w"])
    assert torch.equal(back.train_state["rng"]["torch"], state["rng"]["torch"])
    assert not list(tmp_path.glob(".last.pt.*")), "temporary file left behind"


def test_loading_uses_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.pt"
    ckpt.save(path, ckpt.Checkpoint(META, _small()))
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    ckpt.load(path)
    assert seen == [True]


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "x": _Evil()}, path)
    with pytest.raises(ckpt.CheckpointError, match="corrupted or not a PyTorch checkpoint"):
        ckpt.load(path)


def test_truncated_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.pt"
    ckpt.save(path, ckpt.Checkpoint(META, _small()))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ckpt.CheckpointError, match="cut.pt: corrupted"):
        ckpt.load(path)


def test_foreign_file_is_not_taken_for_ours(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(_small(), path)
    with pytest.raises(ckpt.CheckpointError, match="not a cxrclf checkpoint"):
        ckpt.load(path)
    with pytest.raises(ckpt.CheckpointError, match="no such checkpoint"):
        ckpt.load(tmp_path / "absent.pt")


def test_backbone_transfer_keeps_everything_but_the_head(tmp_path: Path) -> None:
    spec = get_spec("resnet34")
    source = create_model("resnet34", 14)
    path = tmp_path / "nih.pt"
    prep = replace(PREP, labels=tuple(f"finding{i}" for i in range(14)))
    meta = replace(META, task="chestx14", preprocessing=prep)
    ckpt.save(path, ckpt.Checkpoint(meta, source.state_dict()))
    target = create_model("resnet34", 5)
    head_before = target.fc.weight.clone()
    ckpt.load_backbone(target, spec, path)
    assert torch.equal(target.layer4[0].conv1.weight, source.layer4[0].conv1.weight)
    assert torch.equal(target.fc.weight, head_before)


def test_backbone_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.pt"
    ckpt.save(path, ckpt.Checkpoint(META, create_model("resnet34", 5).state_dict()))
    with pytest.raises(ckpt.CheckpointError, match="holds a resnet34 model, not mobilenet_v2"):
        ckpt.load_backbone(create_model("mobilenet_v2", 5), get_spec("mobilenet_v2"), path)


def test_chexnet_layout_import(tmp_path: Path) -> None:
    # CheXNet re-implementations: DataParallel(`module.`) around `.densenet121`, legacy
    # `norm.1`/`conv.1` names, a Sequential(Linear, Sigmoid) head as `classifier.0`.
    source = create_model("densenet121", 14)
    renamed = {}
    for key, value in source.state_dict().items():
        key = key.replace("norm1", "norm.1").replace("conv2", "conv.2")
        key = key.replace("classifier.", "classifier.0.")
        renamed["module.densenet121." + key] = value
    path = tmp_path / "chexnet.pth.tar"
    torch.save({"epoch": 9, "state_dict": renamed, "best_loss": 0.1}, path)
    target = create_model("densenet121", 5)
    ckpt.load_backbone(target, get_spec("densenet121"), path)
    want = source.features.denseblock3.denselayer2.norm1.weight
    assert torch.equal(target.features.denseblock3.denselayer2.norm1.weight, want)


def test_plain_torchvision_state_dict_import(tmp_path: Path) -> None:
    spec = get_spec("mobilenet_v2")
    source = spec.build()
    path = tmp_path / "tv.pth"
    torch.save(source.state_dict(), path)
    target = create_model("mobilenet_v2", 5)
    ckpt.load_backbone(target, spec, path)
    assert torch.equal(target.features[3].conv[0][0].weight, source.features[3].conv[0][0].weight)


def test_mismatched_keys_are_reported_not_skipped(tmp_path: Path) -> None:
    state = create_model("densenet121", 5).state_dict()
    state.pop("features.conv0.weight")
    state["features.extra.weight"] = torch.zeros(1)
    state["features.norm5.bias"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(KeyMismatchError) as err:
        ckpt.load_backbone(create_model("densenet121", 5), get_spec("densenet121"), path)
    message = str(err.value)
    assert "1 missing from the file: features.conv0.weight" in message
    assert "1 unexpected in the file: features.extra.weight" in message
    assert "features.norm5.bias: (3,) vs (1024,)" in message


def _tampered(tmp_path: Path, **changes) -> Path:
    """A checkpoint whose payload is edited as a file from another site might be."""
    payload = {
        "format": ckpt.FORMAT,
        "format_version": ckpt.FORMAT_VERSION,
        "meta": META.to_dict(),
        "model": _small(),
        "train_state": {},
    }
    for key, value in changes.items():
        if key in ("resize", "crop", "std"):
            payload["meta"]["preprocessing"][key] = value
        elif value is None:
            del payload[key]
        else:
            payload[key] = value
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resize": 60000}, "resize 60000 is outside 8..4096"),
        ({"resize": 0}, "resize 0 is outside 8..4096"),
        ({"crop": 0}, "crop (input_size) 0 is outside 8..4096"),
        ({"crop": 300}, "crop (input_size) 300 exceeds resize 256"),
        ({"std": [0.0, 0.2, 0.2]}, "std [0.0, 0.2, 0.2] must be positive"),
        ({"meta": None}, "checkpoint has no 'meta' record (labels, preprocessing)"),
        ({"meta": [1, 2]}, "checkpoint has no 'meta' record (labels, preprocessing)"),
    ],
)
def test_item8_checkpoint_metadata_is_range_checked_naming_the_file(
    tmp_path: Path, changes: dict, message: str
) -> None:
    path = _tampered(tmp_path, **changes)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_item8_version1_metadata_is_range_checked(tmp_path: Path) -> None:
    meta = {"arch": "resnet34", "task": "regions", "epoch": 1, "metrics": {}, "versions": {}}
    meta |= {"labels": list(REGIONS), "input_size": 224, "resize": 60000}
    meta |= {"mean": [0.5], "std": [0.25]}
    path = tmp_path / "v1.pt"
    torch.save({"format": ckpt.FORMAT, "format_version": 1, "meta": meta, "model": {}}, path)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.load(path)
    assert str(caught.value) == f"{path}: resize 60000 is outside 8..4096"

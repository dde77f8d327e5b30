from __future__ import annotations

from pathlib import Path

import pytest
import torch

from classifier.models import registry
from classifier.models.mdconv import MDConv
from labeler.packs import region_ids

ARCHS = registry.arch_names()


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    (home / "hub" / "checkpoints").mkdir(parents=True)
    return home


def test_registry_has_the_paper_networks() -> None:
    assert set(ARCHS) == {
        "alexnet",
        "vgg16",
        "resnet34",
        "densenet121",
        "mobilenet_v2",
        "mobilenet_v2_mdconv",
    }
    sizes = {name: registry.get_spec(name).input_size for name in ARCHS}
    assert sizes["alexnet"] == sizes["vgg16"] == 227
    assert {sizes[n] for n in ARCHS if n not in ("alexnet", "vgg16")} == {224}


def test_unknown_architecture_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="known: alexnet"):
        registry.get_spec("lenet")


@pytest.mark.parametrize("name", ARCHS)
def test_spec_names_real_layers(name: str) -> None:
    spec = registry.get_spec(name)
    n = len(region_ids())
    model = registry.create_model(name, n)
    head = model.get_submodule(spec.classifier)
    assert isinstance(head, torch.nn.Linear) and head.out_features == n
    assert isinstance(model.get_submodule(spec.first_conv), torch.nn.Conv2d)
    model.get_submodule(spec.cam_layer)


def test_missing_imagenet_weights_names_file_folder_and_url(torch_home: Path) -> None:
    spec = registry.get_spec("resnet34")
    with pytest.raises(registry.MissingWeightsError) as err:
        registry.create_model("resnet34", 5, imagenet=True)
    message = str(err.value)
    assert "resnet34-b627a593.pth" in message
    assert str(torch_home / "hub" / "checkpoints") in message
    assert spec.weights.url in message


def test_imagenet_weights_from_torch_home(torch_home: Path) -> None:
    spec = registry.get_spec("resnet34")
    source = spec.build()
    torch.save(source.state_dict(), registry.imagenet_weight_path(spec))
    model = registry.create_model("resnet34", 5, imagenet=True)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert model.fc.out_features == 5


def test_imagenet_weights_from_explicit_file(tmp_path: Path, torch_home: Path) -> None:
    spec = registry.get_spec("mobilenet_v2")
    source = spec.build()
    path = tmp_path / "mine.pth"
    torch.save(source.state_dict(), path)
    model = registry.create_model("mobilenet_v2", 5, imagenet=True, weights=path)
    assert torch.equal(model.features[0][0].weight, source.features[0][0].weight)


def test_densenet_imagenet_file_with_legacy_key_names(torch_home: Path) -> None:
    # torchvision's own densenet121 file says `norm.1`, `conv.1` and predates BatchNorm counters.
    spec = registry.get_spec("densenet121")
    source = spec.build()
    legacy = {
        k.replace("norm1", "norm.1").replace("conv1", "conv.1"): v
        for k, v in source.state_dict().items()
        if not k.endswith("num_batches_tracked")
    }
    assert any("norm.1" in k for k in legacy)
    torch.save(legacy, registry.imagenet_weight_path(spec))
    model = registry.create_model("densenet121", 5, imagenet=True)
    layer = model.features.denseblock1.denselayer1
    assert torch.equal(layer.conv1.weight, source.features.denseblock1.denselayer1.conv1.weight)


def test_mdconv_stage5_split_between_3x3_and_5x5() -> None:
    model = registry.create_model("mobilenet_v2_mdconv", 5)
    for index in range(18):
        block = model.features[index]
        mds = [m for m in block.modules() if isinstance(m, MDConv)]
        assert len(mds) == (1 if 14 <= index <= 16 else 0)
        for md in mds:
            assert md.conv3.kernel_size == (3, 3) and md.conv5.kernel_size == (5, 5)
            assert md.conv3.in_channels == md.conv5.in_channels
    assert model.features[14].conv[1][0].conv3.stride == (2, 2)


def test_mdconv_surgery_keeps_imagenet_function(torch_home: Path) -> None:
    spec = registry.get_spec("mobilenet_v2")
    torch.save(spec.build().state_dict(), registry.imagenet_weight_path(spec))
    plain = registry.create_model("mobilenet_v2", 5, imagenet=True).eval()
    md = registry.create_model("mobilenet_v2_mdconv", 5, imagenet=True).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(plain.features(x), md.features(x), atol=1e-5)

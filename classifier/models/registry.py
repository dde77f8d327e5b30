"""Architecture registry: one ArchSpec per network, one factory; no per-name branches elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum

from classifier.models.mdconv import convert_stage
from classifier.models.statedict import load_strict, read_foreign

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MissingWeightsError(FileNotFoundError):
    """An ImageNet weight file is not on this machine; we never download at run time."""


@dataclass(frozen=True)
class ArchSpec:
    name: str
    build: Callable[[], nn.Module]  # torchvision layout with its 1000-class head, no weights
    input_size: int  # crop fed to the network (the paper: 227 AlexNet/VGG, 224 otherwise)
    classifier: str  # dotted name of the final nn.Linear, replaced by the region head
    first_conv: str
    # Grad-CAM / CAM target: the module whose output is the last feature map after its activation
    # (in place or functional), i.e. what the head's pooling reads.
    cam_layer: str
    # True when the head is one Linear on the globally average-pooled cam_layer map (dropout
    # before it is identity in eval mode), the condition for CAM.
    gap: bool
    weights: WeightsEnum  # torchvision's ImageNet weights for `build`'s layout
    # Surgery applied after ImageNet weights are loaded, so a modified net still starts from them.
    adapt: Callable[[nn.Module], None] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def weight_file_name(self) -> str:
        return self.weights.url.rsplit("/", 1)[-1]


_REGISTRY: dict[str, ArchSpec] = {}


def register(spec: ArchSpec) -> ArchSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"architecture {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def arch_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_spec(name: str) -> ArchSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(_REGISTRY)}") from None


def imagenet_weight_path(spec: ArchSpec) -> Path:
    """Where torchvision keeps the file: $TORCH_HOME/hub/checkpoints/<file name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / spec.weight_file_name


def _resolve_weights(spec: ArchSpec, weights: Path | None) -> Path:
    path = Path(weights) if weights is not None else imagenet_weight_path(spec)
    if weights is not None and not path.is_file():
        what = "is not a regular file" if path.exists() else "does not exist"
        raise MissingWeightsError(f"ImageNet weights file {path} (--weights) {what}")
    if not path.is_file():
        raise MissingWeightsError(
            f"ImageNet weights for {spec.name} not found: {path}. Offline use needs the file "
            f"{spec.weight_file_name} in {path.parent} (or pass --weights FILE); torchvision "
            f"would download it from {spec.weights.url}"
        )
    return path


def create_model(
    name: str,
    num_outputs: int,
    imagenet: bool = False,
    weights: Path | None = None,
) -> nn.Module:
    """Build `name` with a `num_outputs` head; ImageNet weights from a local file when asked."""
    spec = get_spec(name)
    model = spec.build()
    if imagenet:
        path = _resolve_weights(spec, weights)
        load_strict(model, read_foreign(path), f"ImageNet weights {path}")
    if spec.adapt is not None:
        spec.adapt(model)
    old = model.get_submodule(spec.classifier)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{spec.name}: {spec.classifier} is {type(old).__name__}, not Linear")
    model.set_submodule(spec.classifier, nn.Linear(old.in_features, num_outputs))
    return model


def head_prefix(spec: ArchSpec) -> str:
    """State-dict prefix of the head, the only part not transferred between tasks."""
    return spec.classifier + "."


def _mdconv(model: nn.Module) -> None:
    # Paper 001, Table 1: MD-Conv only in stage 5, the stride-2 stage of three 160-channel
    # bottlenecks, which torchvision numbers features.14–16.
    convert_stage(model.features[14:17])


register(
    ArchSpec(
        name="alexnet",
        build=models.alexnet,
        input_size=227,
        classifier="classifier.6",
        first_conv="features.0",
        cam_layer="features.11",  # ReLU of the last conv, before the last max-pool
        gap=False,
        weights=models.AlexNet_Weights.IMAGENET1K_V1,
    )
)
register(
    ArchSpec(
        name="vgg16",
        build=models.vgg16,
        input_size=227,
        classifier="classifier.6",
        first_conv="features.0",
        cam_layer="features.29",  # ReLU of the last conv, before the last max-pool
        gap=False,
        weights=models.VGG16_Weights.IMAGENET1K_V1,
    )
)
register(
    ArchSpec(
        name="resnet34",
        build=models.resnet34,
        input_size=224,
        classifier="fc",
        first_conv="conv1",
        cam_layer="layer4",
        gap=True,
        weights=models.ResNet34_Weights.IMAGENET1K_V1,
    )
)
register(
    ArchSpec(
        name="densenet121",
        build=models.densenet121,
        input_size=224,
        classifier="classifier",
        first_conv="features.conv0",
        # DenseNet.forward applies F.relu(inplace=True) to this output before pooling, so the
        # captured tensor holds the post-ReLU map and autograd differentiates with respect to it.
        cam_layer="features.norm5",
        gap=True,
        weights=models.DenseNet121_Weights.IMAGENET1K_V1,
    )
)
_MOBILENET_V2 = ArchSpec(
    name="mobilenet_v2",
    build=models.mobilenet_v2,
    input_size=224,
    classifier="classifier.1",
    first_conv="features.0.0",
    cam_layer="features.18",
    gap=True,
    weights=models.MobileNet_V2_Weights.IMAGENET1K_V1,
)
register(_MOBILENET_V2)
# paper 001: the same network with its stage-5 depthwise convolutions made multi-kernel
register(replace(_MOBILENET_V2, name="mobilenet_v2_mdconv", adapt=_mdconv))

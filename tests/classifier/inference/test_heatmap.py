"""Grad-CAM and CAM on every registered architecture (untrained, at a 64-px crop), the overlays
written from them, and what the registry's `cam_layer` / `gap` claim about each network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from classifier.demo.phantom import (
    Anatomy,
    Canvas,
    draw_phantom,
    draw_phantom_with_anatomy,
    heart_centre,
)
from classifier.inference.heatmap import (
    OVERLAY_SIDE,
    Heatmap,
    HeatmapError,
    network_view,
    overlay,
    region_heatmaps,
    write_overlays,
)
from classifier.inference.scoring import Classifier, centre_crop, load_classifier
from classifier.models import checkpoint
from classifier.models.checkpoint import Checkpoint, CheckpointMeta
from classifier.models.registry import arch_names, create_model, get_spec
from classifier.run import WINDOWING, FilmFormat, Preprocessing
from labeler.packs import region_ids
from tests.conftest import DemoRun

ARCHS = arch_names()
CROP, RESIZE = 64, 66  # AlexNet's last feature map is 3x3 here, VGG16's 4x4, the others' 2x2


def _heart_mask(anatomy: Anatomy, size: int) -> np.ndarray:
    """(size, size) bool: the heart shadow of a phantom drawn with `anatomy`."""
    return Canvas(size).ellipse(*heart_centre(anatomy), *anatomy.heart)


def _hooks(net: nn.Module) -> list[str]:
    return [name for name, m in net.named_modules() if m._forward_hooks or m._forward_pre_hooks]


@pytest.fixture(scope="module")
def film_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("film") / "chest.png"
    draw_phantom(dict.fromkeys(region_ids(), False), np.random.default_rng(0), size=96).save(path)
    return path


def _untrained(name: str, folder: Path) -> Classifier:
    spec = get_spec(name)
    torch.manual_seed(0)
    model = create_model(name, len(region_ids()))
    film = FilmFormat(256, 16, WINDOWING, region_ids())
    prep = Preprocessing(film, RESIZE, CROP, spec.mean, spec.std, region_ids())
    meta = CheckpointMeta(name, "regions", prep, 0)
    checkpoint.save(folder / "best.pt", Checkpoint(meta, model.state_dict()))
    return load_classifier(folder / "best.pt", device="cpu")


@pytest.fixture(scope="module", params=ARCHS)
def clf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    return _untrained(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="module")
def film(clf: Classifier, film_file: Path) -> torch.Tensor:
    return network_view(clf, film_file)


@pytest.fixture(scope="module")
def gradcams(clf: Classifier, film: torch.Tensor) -> tuple[Heatmap, ...]:
    return region_heatmaps(clf, film, clf.regions, "gradcam")


def test_gradcam_maps_every_region_and_writes_overlays(
    clf: Classifier, film: torch.Tensor, gradcams: tuple[Heatmap, ...], tmp_path: Path
) -> None:
    heatmaps = gradcams
    assert [h.region for h in heatmaps] == list(region_ids())
    probabilities = clf.probabilities(film[None])[0]
    for h in heatmaps:
        assert h.method == "gradcam"
        assert h.cam.shape == (CROP, CROP) and h.cam.dtype == np.float32
        assert np.isfinite(h.cam).all()
        assert h.cam.min() == 0 and h.cam.max() in (0, 1)
    assert [h.probability for h in heatmaps] == pytest.approx(probabilities, abs=1e-5)
    assert _hooks(clf.net) == []

    paths = write_overlays(film, heatmaps, "chest", tmp_path)
    assert [p.name for p in paths] == [f"chest_{r}_gradcam.png" for r in region_ids()]
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    for path in paths:
        with Image.open(path) as image:
            assert (image.format, image.mode) == ("PNG", "RGB")
            assert image.size == (OVERLAY_SIDE, OVERLAY_SIDE)


def test_cam_layer_is_the_rectified_map_the_head_pools(clf: Classifier, film: torch.Tensor) -> None:
    maps: list[torch.Tensor] = []
    hook = clf.net.get_submodule(clf.spec.cam_layer).register_forward_hook(
        lambda _m, _i, out: maps.append(out)
    )
    try:
        with torch.no_grad():
            logits = clf.runtime.forward(
                clf.net, film[None], clf.meta.preprocessing.mean, clf.meta.preprocessing.std
            )
    finally:
        hook.remove()
    fmap = maps[-1]
    # Read after the forward pass: DenseNet's in-place final ReLU has been applied by then.
    assert fmap.min() >= 0
    if clf.spec.gap:
        head = clf.net.get_submodule(clf.spec.classifier)
        with torch.no_grad():
            torch.testing.assert_close(head(fmap.mean(dim=(2, 3))), logits)


def test_cam_equals_gradcam_on_gap_heads_and_is_refused_otherwise(
    clf: Classifier, film: torch.Tensor, gradcams: tuple[Heatmap, ...]
) -> None:
    if not clf.spec.gap:
        with pytest.raises(HeatmapError, match=rf"{clf.spec.name} .*--method gradcam"):
            region_heatmaps(clf, film, clf.regions, "cam")
        return
    cams = region_heatmaps(clf, film, clf.regions, "cam")
    # The gradient of a GAP-Linear logit is the head's row over the map's area.
    for cam, grad in zip(cams, gradcams, strict=True):
        assert cam.method == "cam"
        np.testing.assert_allclose(cam.cam, grad.cam, atol=1e-5)
    assert any(c.cam.max() == 1 for c in cams)  # not trivially equal: some map is not flat
    assert _hooks(clf.net) == []


def test_hook_is_removed_when_the_forward_pass_fails(clf: Classifier, film: torch.Tensor) -> None:
    def fail(_module: nn.Module, _inputs: object) -> None:
        raise RuntimeError("first conv exploded")

    # The cam layer's hook is in place once the forward pass starts; it must not outlive it.
    trap = clf.net.get_submodule(clf.spec.first_conv).register_forward_pre_hook(fail)
    try:
        with pytest.raises(RuntimeError, match="first conv exploded"):
            region_heatmaps(clf, film, clf.regions)
    finally:
        trap.remove()
    assert _hooks(clf.net) == []


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Classifier:
    return _untrained("mobilenet_v2", tmp_path_factory.mktemp("mobilenet"))


def test_gradcam_needs_no_grad_mode_or_trainable_weights(
    mobilenet: Classifier, film_file: Path
) -> None:
    film = network_view(mobilenet, film_file)
    expected = region_heatmaps(mobilenet, film, ["heart"])[0].cam
    for p in mobilenet.net.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            (got,) = region_heatmaps(mobilenet, film, ["heart"])
    finally:
        for p in mobilenet.net.parameters():
            p.requires_grad_(True)
    np.testing.assert_array_equal(got.cam, expected)
    assert all(p.grad is None for p in mobilenet.net.parameters())


@pytest.mark.parametrize(
    ("regions", "method", "message"),
    [
        (["spine"], "gradcam", "has no region spine; its regions: thorax, lungs"),
        (["normal"], "gradcam", "has no region normal"),
        (["heart"], "lime", "unknown heatmap method 'lime'; known: gradcam, cam"),
    ],
)
def test_bad_requests_are_refused(
    mobilenet: Classifier, film_file: Path, regions: list[str], method: str, message: str
) -> None:
    with pytest.raises(HeatmapError, match=message):
        region_heatmaps(mobilenet, network_view(mobilenet, film_file), regions, method)


def test_overlay_shows_the_plain_film_where_the_map_is_cold() -> None:
    film = np.full((8, 8), 0.5, dtype=np.float32)
    cam = np.zeros((8, 8), dtype=np.float32)
    cam[4:, 4:] = 1.0
    image = np.asarray(overlay(film, Heatmap("heart", "cam", 0.87, cam), side=64))
    assert image.shape == (64, 64, 3)
    cold, hot = image[40:48, 0:8], image[56:, 56:]
    assert (cold == 128).all()  # grey, untinted
    assert hot[..., 0].min() > hot[..., 2].max()  # jet's hot end is red
    assert (image[3:6, 2:6] == 0).all()  # the caption's black box in the corner


def _right_share(pixels: np.ndarray) -> float:
    """Share of the total in the viewer's right half (the patient's left, the heart's side)."""
    return float(pixels[:, pixels.shape[1] // 2 :].sum() / pixels.sum())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gradcam", "cam"])
def test_heart_heatmap_of_the_demo_run_lies_on_the_heart_side(
    demo_run: DemoRun, tmp_path: Path, method: str
) -> None:
    """Enlarged-heart phantoms: the heart map leans to the side of the film holding the heart.

    Not "mostly inside the heart shadow": at the demo run's 64-px crop ResNet34's layer4 map is
    2x2 and every cell sees the whole film, so even a one-hot map puts at most 0.13 of its mass
    in the shadow (7% of the crop). Measured over seeds 0-9, both methods (identical here): mass
    in the shadow 0.088 on average (min 0.045) against a shadow area of 0.077; mass in the
    heart's half 0.64-0.85, with the shadow's own share there 0.56-0.71.
    """
    clf = load_classifier(demo_run.run_dir / "best.pt", device="cpu")
    heart_side = []
    for seed in range(5):
        abnormal = {region: region == "heart" for region in region_ids()}
        image, anatomy = draw_phantom_with_anatomy(abnormal, np.random.default_rng(seed), 128)
        image.save(tmp_path / f"heart{seed}.png")
        (heatmap,) = region_heatmaps(
            clf, network_view(clf, tmp_path / f"heart{seed}.png"), ["heart"], method
        )
        shadow = centre_crop(
            torch.from_numpy(_heart_mask(anatomy, clf.meta.resize)), clf.meta.input_size
        ).numpy()
        assert heatmap.probability > 0.9
        assert _right_share(shadow) > 0.5
        heart_side.append(_right_share(heatmap.cam))
    assert min(heart_side) > 0.55 and np.mean(heart_side) > 0.65, heart_side

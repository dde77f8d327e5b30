from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from classifier.demo.phantom import draw_phantom
from classifier.models import checkpoint
from classifier.models.checkpoint import Checkpoint, CheckpointMeta
from classifier.models.registry import create_model, get_spec
from classifier.run import WINDOWING, FilmFormat, Preprocessing
from cli.clf_heatmap import heatmap_command
from labeler.packs import region_ids


def _checkpoint(path: Path, arch: str) -> Path:
    spec = get_spec(arch)
    torch.manual_seed(0)
    model = create_model(arch, len(region_ids()))
    film = FilmFormat(256, 16, WINDOWING, region_ids())
    prep = Preprocessing(film, 36, 32, spec.mean, spec.std, region_ids())
    meta = CheckpointMeta(arch, "regions", prep, 0)
    checkpoint.save(path, Checkpoint(meta, model.state_dict()))
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", "mobilenet_v2")


@pytest.fixture
def films(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / "a.png", tmp_path / "sub" / "b.jpg"]
    paths[1].parent.mkdir()
    rng = np.random.default_rng(0)
    for path in paths:
        draw_phantom(dict.fromkeys(region_ids(), False), rng, size=48).save(path)
    return paths


def _invoke(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(heatmap_command, [str(a) for a in args])
    return result.exit_code, result.output


def test_writes_one_overlay_per_region_and_film(
    ckpt: Path, films: list[Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, output = _invoke(*films, "--checkpoint", ckpt, "-o", out, "--size", "96")
    assert code == 0, output
    expected = {f"{stem}_{r}_gradcam.png" for stem in ("a", "b") for r in region_ids()}
    assert {p.name for p in out.iterdir()} == expected
    with Image.open(out / "a_heart_gradcam.png") as image:
        assert image.size == (96, 96)
    assert len(output.splitlines()) == len(expected)
    assert "p(heart)=" in output


def test_one_region_by_cam(ckpt: Path, films: list[Path], tmp_path: Path) -> None:
    code, output = _invoke(
        films[0], "--checkpoint", ckpt, "--region", "lungs", "--method", "cam", "-o", tmp_path / "o"
    )
    assert code == 0, output
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["a_lungs_cam.png"]


def test_cam_on_a_network_without_gap_head_is_a_usage_error(
    films: list[Path], tmp_path: Path
) -> None:
    alexnet = _checkpoint(tmp_path / "alexnet.pt", "alexnet")
    out = tmp_path / "out"
    code, output = _invoke(films[0], "--checkpoint", alexnet, "--method", "cam", "-o", out)
    assert code == 2
    assert output.count("\n") == 1 and "alexnet" in output and "--method gradcam" in output
    assert not out.exists()


def test_heatmap_skips_bad_or_missing_film_and_goes_on(
    ckpt: Path, films: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not a film", encoding="utf-8")
    missing = tmp_path / "missing.png"
    out = tmp_path / "out"
    runner = CliRunner()
    args = [bad, films[0], missing, films[1], "--checkpoint", ckpt, "-o", out, "--region", "heart"]
    result = runner.invoke(heatmap_command, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"{bad}: skipped: unreadable image file\n"
        f"{missing}: skipped: no such file\n"
        "2 films drawn, 2 unreadable\n"
    )
    drawn = [line.split("  p(heart)=")[0] for line in result.stdout.splitlines()]
    assert drawn == [str(out / "a_heart_gradcam.png"), str(out / "b_heart_gradcam.png")]
    assert sorted(p.name for p in out.iterdir()) == ["a_heart_gradcam.png", "b_heart_gradcam.png"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"garbage", "corrupted or not a PyTorch checkpoint"), (None, "no such checkpoint file")],
)
def test_bad_checkpoint_is_a_usage_error(
    films: list[Path], tmp_path: Path, content: bytes | None, message: str
) -> None:
    ckpt = tmp_path / "best.pt"
    if content is not None:
        ckpt.write_bytes(content)
    code, output = _invoke(films[0], "--checkpoint", ckpt, "-o", tmp_path / "out")
    assert code == 2 and message in output


def test_usage_errors(ckpt: Path, films: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    twin = films[0].with_suffix(".jpg")
    twin.write_bytes(films[1].read_bytes())
    code, output = _invoke(films[0], twin, "--checkpoint", ckpt, "-o", out)
    assert code == 2 and "several images named a" in output
    code, output = _invoke(films[0], "--checkpoint", ckpt, "--region", "spine", "-o", out)
    assert code == 2 and "has no region spine; its regions: thorax, lungs" in output
    assert not out.exists()

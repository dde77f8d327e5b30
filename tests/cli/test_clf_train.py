from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from classifier.models import checkpoint
from cli.clf import main

pytestmark = pytest.mark.filterwarnings("ignore:validation has only one class")

SMALL = ["--arch", "mobilenet_v2", "--resize", "36", "--crop", "32", "--batch-size", "8"]
SMALL += ["--workers", "0", "--quiet"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    args = ["demo-data", "-o", str(out), "--films", "40", "--nih-films", "24", "--size", "40"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def test_demo_data_writes_manifest_and_nih_folder(demo: Path) -> None:
    header = (demo / "manifest.csv").read_text().splitlines()[0]
    assert header.startswith("image,patient_id,study_key,report_id,split,thorax,")
    assert len(list((demo / "images").glob("*.png"))) == 40
    assert (demo / "nih" / "Data_Entry_2017.csv").is_file()
    assert len(list((demo / "nih").glob("images_*/images/*.png"))) == 24


def test_train_with_config_then_resume(demo: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nlr_decay: 0.9\nloss: cw-cel\n", encoding="utf-8")
    run = tmp_path / "run"
    code, out = _invoke(
        "train",
        "--manifest",
        demo / "manifest.csv",
        "-o",
        run,
        "--config",
        config,
        *SMALL,
        "--epochs",
        "2",
    )
    assert code == 0, out
    assert "after 2 epochs" in out
    saved = (run / "config.yaml").read_text()
    assert "epochs: 2" in saved and "loss: cw-cel" in saved and "lr_decay: 0.9" in saved
    code, out = _invoke("train", "--resume", "-o", run, "--quiet")
    assert code == 0 and "after 2 epochs" in out
    code, out = _invoke("train", "--resume", "-o", run, "--epochs", "3")
    assert code == 2 and "give only -o" in out
    code, out = _invoke("train", "--manifest", demo / "manifest.csv", "-o", run, *SMALL)
    assert code == 1 and "already holds a run" in out


def test_missing_imagenet_weights_is_a_usage_error(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    code, out = _invoke(
        "train",
        "--manifest",
        demo / "manifest.csv",
        "-o",
        tmp_path / "r",
        *SMALL,
        "--pretrain",
        "imagenet",
    )
    assert code == 2
    assert "mobilenet_v2-b0353104.pth" in out and str(tmp_path / "th") in out
    assert "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" in out


def test_bad_config_is_a_usage_error(demo: Path, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\nbatch: 3\n", encoding="utf-8")
    code, out = _invoke(
        "train", "--manifest", demo / "manifest.csv", "-o", tmp_path / "r", "--config", config
    )
    assert code == 2 and "c.yaml:2: unknown setting 'batch'" in out
    code, out = _invoke("train", "-o", tmp_path / "r")
    assert code == 2 and "give --manifest" in out


def test_pretrain_on_nih_then_transfer(demo: Path, tmp_path: Path) -> None:
    code, out = _invoke(
        "pretrain", "--nih-dir", demo / "nih", "-o", tmp_path / "pre", *SMALL, "--epochs", "1"
    )
    assert code == 0, out
    best = tmp_path / "pre" / "best.pt"
    assert checkpoint.load(best).meta.task == "chestx14"
    code, out = _invoke(
        "train",
        "--manifest",
        demo / "manifest.csv",
        "-o",
        tmp_path / "fine",
        *SMALL,
        "--epochs",
        "1",
        "--pretrain",
        "chestx14",
        "--init",
        best,
    )
    assert code == 0, out
    assert "init: " in (tmp_path / "fine" / "config.yaml").read_text()


def test_chestx14_without_init_and_missing_weights_name_the_option(
    demo: Path, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 1\n", encoding="utf-8")
    base = ["train", "--manifest", demo / "manifest.csv", "-o", tmp_path / "r", *SMALL]
    code, out = _invoke(*base, "--config", config, "--pretrain", "chestx14")
    assert code == 2
    assert out == (
        "Error: pretrain chestx14 needs --init CHECKPOINT (or `init:` in the config): "
        "the ChestX-14 checkpoint to start from, made by `cxrclf pretrain`\n"
    )
    missing = tmp_path / "missing.pth"
    code, out = _invoke(*base, "--pretrain", "imagenet", "--weights", missing)
    assert code == 2
    assert out == f"Error: ImageNet weights file {missing} (--weights) does not exist\n"


def test_low_manifest_row_whose_film_is_missing_is_one_line_exit_2(
    demo: Path, tmp_path: Path
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo, data, ignore=shutil.ignore_patterns("nih"))
    film = sorted((data / "images").glob("*.png"))[0]
    film.unlink()
    code, output = _invoke(
        "train", "--manifest", data / "manifest.csv", "-o", tmp_path / "r", *SMALL
    )
    assert code == 2
    assert f"{data / 'manifest.csv'}: 1 films missing: {film}" in output

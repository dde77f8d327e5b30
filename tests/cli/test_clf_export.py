"""`cxrclf export` and `cxrclf predict` on what it writes, as a user runs them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from classifier.demo.phantom import draw_phantom
from cli.clf import main
from tests.conftest import DemoRun

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def evaluated_run(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("cli_export") / "run"
    shutil.copytree(demo_run.run_dir, run)
    result = CliRunner().invoke(main, ["evaluate", str(run), "--bootstrap", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def film_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("films")
    rng = np.random.default_rng(7)
    for i, finding in enumerate(({}, {"heart": True}, {"lungs": True, "aorta": True})):
        draw_phantom(finding, rng, size=128).save(folder / f"f{i}.png")
    (folder / "broken.dcm").write_bytes(b"not a film")
    return folder


def _predict(model: Path, films: Path, out: Path) -> pd.DataFrame:
    args = ["predict", str(films), "--checkpoint", str(model), "-o", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "3 films predicted, 1 unreadable" in result.output
    return pd.read_csv(out, keep_default_na=False)


def test_exports_predict_as_the_checkpoint_does(
    evaluated_run: Path, film_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    expected = _predict(evaluated_run / "best.pt", film_folder, tmp_path / "ckpt.csv")
    probabilities = [c for c in expected.columns if expected[c].dtype.kind == "f"]
    for name in ("model.safetensors", "model.onnx"):
        out = tmp_path / name
        result = runner.invoke(main, ["export", str(evaluated_run), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "resnet34, 5 outputs" in result.output and "with its calibration" in result.output
        got = _predict(out, film_folder, tmp_path / f"{name}.csv")
        # The calibration travelled inside the file: the same thresholds, the same source.
        assert got.drop(columns=probabilities).equals(expected.drop(columns=probabilities))
        tolerance = 0 if name.endswith("safetensors") else 1e-4
        np.testing.assert_allclose(got[probabilities], expected[probabilities], atol=tolerance)
    assert "ONNX Runtime agrees with PyTorch" in result.output


def test_export_usage_errors(evaluated_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    cases = [
        (["-o", str(tmp_path / "m.bin")], "name it .safetensors or .onnx, or give --format"),
        (["-o", str(tmp_path / "m.onnx"), "--format", "safetensors"], "is named onnx"),
        (["-o", str(tmp_path / "m.onnx"), "--opset", "13"], "needs an opset from 18 to"),
    ]
    for extra, message in cases:
        result = runner.invoke(main, ["export", str(evaluated_run), *extra])
        assert result.exit_code == 2, result.output
        assert message in result.output
    assert not list(tmp_path.iterdir())
    # An output nobody can write, and model files that are not files: one line, exit 2.
    result = runner.invoke(main, ["export", str(evaluated_run), "-o", "/proc/m.safetensors"])
    assert result.exit_code == 2 and "cannot write /proc/m.safetensors" in result.output
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    args = ["predict", str(tmp_path), "--checkpoint", str(fifo), "-o", str(tmp_path / "p.csv")]
    result = runner.invoke(main, args)
    assert result.exit_code == 2 and "pipe.onnx is not a regular file" in result.output
    fifo.unlink()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    result = runner.invoke(main, ["export", str(bad), "-o", str(tmp_path / "m.safetensors")])
    assert result.exit_code == 2 and "corrupted or not a PyTorch checkpoint" in result.output


def test_heatmap_refuses_an_onnx_file(
    evaluated_run: Path, film_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    onnx_file = tmp_path / "m.onnx"
    assert runner.invoke(main, ["export", str(evaluated_run), "-o", str(onnx_file)]).exit_code == 0
    args = ["heatmap", str(film_folder / "f1.png"), "--checkpoint", str(onnx_file)]
    result = runner.invoke(main, [*args, "-o", str(tmp_path / "maps")])
    assert result.exit_code == 2, result.output
    assert "is an ONNX export, which holds no PyTorch network" in result.output


def test_probe_findings_are_one_line_errors_or_error_rows(
    evaluated_run: Path, film_folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    best = evaluated_run / "best.pt"
    film = film_folder / "f0.png"

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args))
        return result.exit_code, result.output

    # A full device: one line, exit 2.
    code, output = run("predict", str(film), "--checkpoint", str(best), "-o", "/dev/full")
    assert code == 2 and "cannot write /dev/full: No space left on device" in output
    # -o naming the model or a film: refused before anything is written.
    copy = tmp_path / "victim.pt"
    shutil.copy(best, copy)
    code, output = run("predict", str(film), "--checkpoint", str(copy), "-o", str(copy))
    assert code == 2 and "is also an input" in output and copy.stat().st_size > 1_000_000
    code, output = run("export", str(copy), "-o", str(copy), "--format", "safetensors")
    assert code == 2 and "is the model being exported" in output
    # Devices that are not there, or not devices.
    for device, message in (
        ("bogus", "--device 'bogus' is not a device: auto, cpu, cuda or cuda:N"),
        ("mps", "this toolkit runs on cpu or cuda"),
    ):
        code, output = run(
            "predict",
            str(film),
            "--checkpoint",
            str(best),
            "-o",
            str(tmp_path / "p.csv"),
            "--device",
            device,
        )
        assert code == 2 and message in output, output
    # A FIFO given as a film is an error row, never opened (it would block).
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    out = tmp_path / "rows.csv"
    code, output = run("predict", str(fifo), str(film), "--checkpoint", str(best), "-o", str(out))
    assert code == 0, output
    rows = pd.read_csv(out, keep_default_na=False)
    assert rows["error"].tolist() == ["not a regular file, skipped (FIFO)", ""]

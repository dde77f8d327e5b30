"""`cxrclf evaluate | predict | compare | grid` as a user runs them: files, messages, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from classifier.demo.phantom import draw_phantom
from cli.clf import main
from labeler.packs import region_ids
from tests.conftest import DemoRun

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:validation has only one")]


@pytest.fixture(scope="module")
def run_copy(demo_run: DemoRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run copied, so this module's evaluations stay out of the shared folder."""
    run = tmp_path_factory.mktemp("cli_eval") / "run"
    shutil.copytree(demo_run.run_dir, run)
    return run


def test_evaluate_then_predict_with_confidence(run_copy: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["evaluate", str(run_copy), "--bootstrap", "50", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("test: mean AUC ")
    assert f"report in {run_copy / 'eval-test'}" in result.output
    assert (run_copy / "best.calibration.json").is_file()
    metrics = json.loads((run_copy / "eval-test" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["replicates"] == 50

    draw_phantom({"heart": True}, np.random.default_rng(1), size=128).save(tmp_path / "a.png")
    (tmp_path / "b.dcm").write_bytes(b"not a film")
    out = tmp_path / "pred.csv"
    args = ["predict", str(tmp_path), "--checkpoint", str(run_copy / "best.pt"), "-o", str(out)]
    result = runner.invoke(main, [*args, "--confidence", "0.8", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'b.dcm'}: skipped: not a DICOM file" in result.output
    assert "1 films predicted, 1 unreadable" in result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert table["file"].tolist() == [str(tmp_path / "a.png"), str(tmp_path / "b.dcm")]
    assert table["threshold_source"].tolist() == ["validation (youden)"] * 2
    assert table.loc[0, "film_at_0.8"] in (
        "abnormal",
        "abnormal, region uncertain",
        "normal",
        "uncertain",
    )

    result = runner.invoke(main, ["compare", str(run_copy), str(run_copy / "eval-test")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("|")[1].strip() == "run"
    assert len(lines) == 4  # header, rule, two runs
    assert f"{metrics['mean_auc']:.3f}" in lines[2]


def test_predict_without_evaluation_uses_half_and_says_so(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    ckpt = tmp_path / "model.pt"
    shutil.copy(demo_run.run_dir / "best.pt", ckpt)
    film = tmp_path / "f.png"

    draw_phantom({}, np.random.default_rng(2), size=128).save(film)
    out = tmp_path / "p.csv"
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(film), "--checkpoint", str(ckpt), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "was never evaluated (no model.calibration.json)" in result.output
    assert pd.read_csv(out)["threshold_source"].tolist() == ["default 0.5"]
    result = runner.invoke(
        main,
        ["predict", str(film), "--checkpoint", str(ckpt), "-o", str(out), "--confidence", "0.9"],
    )
    assert result.exit_code == 2
    assert "--confidence needs the label tree fitted by `cxrclf evaluate`" in result.output
    result = runner.invoke(
        main,
        ["predict", str(film), "--checkpoint", str(ckpt), "-o", str(out), "--confidence", "0.4"],
    )
    assert result.exit_code == 2 and "--confidence must be in (0.5, 1], got 0.4" in result.output


def test_input_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    result = runner.invoke(main, ["predict", str(tmp_path), "--checkpoint", str(bad), "-o", "x"])
    assert result.exit_code == 2 and "corrupted or not a PyTorch checkpoint" in result.output
    result = runner.invoke(main, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "no such checkpoint" in result.output
    result = runner.invoke(main, ["compare", str(tmp_path)])
    assert result.exit_code == 2 and "no metrics.json" in result.output
    result = runner.invoke(main, ["evaluate", str(tmp_path), "--threshold", "f1"])
    assert result.exit_code == 2 and "use youden, sensitivity:X or specificity:X" in result.output


def test_grid_reports_cells_it_cannot_run(
    demo_run: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    out = tmp_path / "grid"
    args = ["grid", "--archs", "vgg16", "--pretrain", "imagenet,chestx14", "--paper"]
    args += ["--data", str(demo_run.manifest), "-o", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "vgg16-imagenet-seed0: skipped: ImageNet weights for vgg16 not found" in result.output
    assert "vgg16-chestx14-seed0: skipped: no ChestX-14 checkpoint" in result.output
    assert "0 of 2 cells done" in result.output
    assert (out / "grid.md").is_file()
    table = pd.read_csv(out / "grid.csv")
    assert table["runs"].tolist() == [0, 0] and table["paper_mean"].tolist() == [0.820, 0.822]
    assert set(region_ids()) <= {c.removesuffix("_auc") for c in table.columns}
    result = CliRunner().invoke(main, [*args, "--archs", "lenet"])
    assert result.exit_code == 2 and "lenet: choose from alexnet" in result.output


def test_calibration_evaluate_on_other_data_keeps_the_runs_calibration(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run.run_dir, run)
    own = run / "best.calibration.json"
    own.write_text('{"kept": true}', encoding="utf-8")
    other = tmp_path / "other"
    other.mkdir()
    source = demo_run.manifest.parent
    for name in ("manifest.csv", "manifest.json"):
        shutil.copy(source / name, other / name)
    with open(other / "manifest.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")  # other data: not a byte-identical copy of the run's manifest
    for entry in source.iterdir():
        if entry.is_dir():
            (other / entry.name).symlink_to(entry)
    out = tmp_path / "report"
    args = ["evaluate", str(run), "--data", str(other / "manifest.csv"), "-o", str(out)]
    result = CliRunner().invoke(main, [*args, "--bootstrap", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    assert own.read_text(encoding="utf-8") == '{"kept": true}'
    assert (out / "best.calibration.json").is_file()
    assert f"calibration {out / 'best.calibration.json'}" in result.output
    assert f"its calibration {own} is left as it was" in result.output


def test_low_predict_excel_switch_writes_a_bom_read_back_identically(
    demo_run: DemoRun, tmp_path: Path
) -> None:
    film = tmp_path / "f.png"
    draw_phantom({}, np.random.default_rng(3), size=128).save(film)
    ckpt = demo_run.run_dir / "best.pt"
    plain, excel = tmp_path / "plain.csv", tmp_path / "excel.csv"
    runner = CliRunner()
    for out, extra in ((plain, []), (excel, ["--excel"])):
        args = ["predict", str(film), "--checkpoint", str(ckpt), "-o", str(out), *extra]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    assert excel.read_bytes() == b"\xef\xbb\xbf" + plain.read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(plain), pd.read_csv(excel, encoding="utf-8-sig"))

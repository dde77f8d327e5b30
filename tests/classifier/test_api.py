"""The classifier's Python API (README "Python API"): `classifier.load` and `classifier.predict`
give the rows of `cxrclf predict`, and importing the package loads no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import classifier
from classifier.demo.phantom import draw_phantom
from cli.clf import main
from tests.conftest import DemoRun

pytestmark = pytest.mark.slow


def test_predict_gives_the_rows_of_the_command(demo_run: DemoRun, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    for i, finding in enumerate(({}, {"heart": True})):
        draw_phantom(finding, rng, size=128).save(tmp_path / f"f{i}.png")
    (tmp_path / "x.dcm").write_bytes(b"no film")
    best = demo_run.run_dir / "best.pt"
    out = tmp_path.parent / f"{tmp_path.name}.csv"
    args = ["predict", str(tmp_path), "--checkpoint", str(best), "-o", str(out), "--quiet"]
    assert CliRunner().invoke(main, args).exit_code == 0

    model = classifier.load(best, device="cpu")
    table = classifier.predict(model, tmp_path)
    written = pd.read_csv(out, keep_default_na=False)
    assert table.to_csv(index=False) == out.read_text(encoding="utf-8")
    assert written["error"].tolist() == ["", "", "not a DICOM file"]
    # The same from a path (a batch of one: float sums may differ in the last digit).
    alone = classifier.predict(best, [tmp_path / "f1.png"])
    pd.testing.assert_frame_equal(
        alone, table.iloc[[1]].reset_index(drop=True), check_dtype=False, atol=2e-6
    )
    film = classifier.prepare_file(tmp_path / "f1.png", model.meta.preprocessing)
    probs = model.probabilities(film[None])
    assert probs.shape == (1, len(model.meta.labels))
    assert torch.tensor(probs[0, 3]).item() == pytest.approx(table.loc[1, "heart"], abs=1e-6)


def test_importing_the_package_loads_no_torch() -> None:
    code = "import sys, classifier, classifier.run; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert "load" in dir(classifier)

"""Prediction on files: the same film as DICOM and PNG scores the same, a corrupt file is listed
and not fatal, decisions follow the saved thresholds, and the label tree adds its verdict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from classifier.demo.phantom import draw_phantom
from classifier.inference.calibration import Calibration
from classifier.inference.labeltree import fit_tree
from classifier.inference.predict import (
    PredictError,
    collect_films,
    prediction_table,
    thresholds_for,
)
from classifier.inference.scoring import load_classifier, score_files
from labeler.packs import region_ids
from tests.conftest import DemoRun

pytestmark = pytest.mark.slow


def _films(tmp_path: Path, films) -> tuple[Path, Path, Path]:
    image = draw_phantom({"heart": True}, np.random.default_rng(5), size=128)
    png = tmp_path / "film.png"
    image.save(png)
    # The same pixels as a DICOM whose window maps stored value v to display (v + 0.5) / 255.
    ds = films.dataset(np.asarray(image).astype(np.uint16), bits_stored=8)
    ds.WindowCenter, ds.WindowWidth = 127.5, 256
    dcm = films.save(ds, tmp_path / "film.dcm")
    corrupt = tmp_path / "broken.dcm"
    corrupt.write_bytes(b"DICM but not really")
    return png, dcm, corrupt


def test_dicom_png_and_corrupt_file(demo_run: DemoRun, tmp_path: Path, films) -> None:
    png, dcm, corrupt = _films(tmp_path, films)
    clf = load_classifier(demo_run.run_dir / "best.pt", "cpu")
    scored = score_files(clf, [png, corrupt, dcm], batch_size=2)
    assert scored.reasons == ("", "not a DICOM file", "")
    assert np.isnan(scored.scores[1]).all() and np.isfinite(scored.scores[[0, 2]]).all()
    np.testing.assert_allclose(scored.scores[0], scored.scores[2], atol=0.02)

    thresholds = thresholds_for(clf, None)
    table = prediction_table(clf, scored, thresholds)
    assert list(table.columns) == [
        "file",
        "error",
        *(c for r in region_ids() for c in (r, f"{r}_abnormal")),
        "threshold_source",
    ]
    assert table["threshold_source"].tolist() == ["default 0.5"] * 3
    for region in region_ids():
        expected = [int(scored.scores[i, region_ids().index(region)] >= 0.5) for i in (0, 2)]
        assert table.loc[[0, 2], f"{region}_abnormal"].tolist() == expected
        assert table[f"{region}_abnormal"].isna().tolist() == [False, True, False]


def test_label_tree_verdict_and_saved_thresholds(demo_run: DemoRun, tmp_path: Path, films) -> None:
    png, dcm, corrupt = _films(tmp_path, films)
    clf = load_classifier(demo_run.run_dir / "best.pt", "cpu")
    scored = score_files(clf, [png, dcm, corrupt])
    regions = region_ids()
    # A tree fitted on constructed scores where region scores ≥ 0.5 mean abnormal.
    rng = np.random.default_rng(0)
    targets = (rng.random((400, len(regions))) < 0.4).astype(float)
    scores = np.clip(targets * 0.8 + rng.random(targets.shape) * 0.2, 0, 1)
    tree = fit_tree(scores, targets, regions)
    calibration = Calibration("best.pt", "youden", dict.fromkeys(regions, 0.9), tree)
    table = prediction_table(clf, scored, thresholds_for(clf, calibration), tree, 0.9)
    assert table["threshold_source"].tolist() == ["validation (youden)"] * 3
    for region in regions:
        probs = scored.scores[:2, regions.index(region)]
        assert table.loc[:1, f"{region}_abnormal"].tolist() == [int(p >= 0.9) for p in probs]
    confident = [r for r in regions if scored.scores[0, regions.index(r)] >= 0.8]
    assert table.loc[0, "confident_regions"] == ";".join(confident)
    verdict = table.loc[0, "film_at_0.9"]
    others = ("abnormal, region uncertain", "normal", "uncertain")
    assert (verdict == "abnormal") if confident else (verdict in others)
    assert table.loc[2, "film_at_0.9"] == ""  # unreadable
    with pytest.raises(PredictError, match="--confidence needs the label tree"):
        prediction_table(clf, scored, thresholds_for(clf, None), None, 0.9)


def test_collect_films_walks_folders_and_refuses_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.png", "a/b/2.DCM", "a/b/IM0001", "a/notes.txt", "a/.hidden.png", "x.bin"):
        (tmp_path / name).write_bytes(b"")
    found = collect_films([tmp_path / "a", tmp_path / "x.bin"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/1.png",
        "a/b/2.DCM",
        "a/b/IM0001",
        "x.bin",  # named explicitly: tried whatever its suffix
    ]
    with pytest.raises(PredictError, match=r"nothing.png: no such file or folder"):
        collect_films([tmp_path / "nothing.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PredictError, match="no film files found"):
        collect_films([tmp_path / "empty"])


def test_nan_threshold_falls_back_to_default(demo_run: DemoRun) -> None:
    clf = load_classifier(demo_run.run_dir / "best.pt", "cpu")
    values = dict.fromkeys(region_ids(), 0.3) | {"heart": math.nan}
    thresholds = thresholds_for(clf, Calibration("best.pt", "youden", values, None))
    assert thresholds.values["heart"] == 0.5 and thresholds.values["lungs"] == 0.3

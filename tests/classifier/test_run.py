"""The contract between the stages (classifier.run): the preprocessing record travels from
`dataset build` through training into the checkpoint, and prediction and heatmaps prepare a
film from it exactly as training did; a run trained before the record existed (version-1
checkpoint, tests/data/classifier/old_run) still loads, evaluates, predicts, draws and resumes
with the numbers it gave then."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from classifier.data.convert import training_image
from classifier.data.dicomio import read_film
from classifier.inference.heatmap import network_view
from classifier.inference.scoring import (
    centre_crop,
    load_classifier,
    prepare_file,
    score_files,
    score_images,
)
from classifier.models import checkpoint
from classifier.run import (
    LEGACY_BIT_DEPTH,
    LEGACY_BUILD_SIZE,
    WINDOWING,
    FilmFormat,
    Preprocessing,
    RecordError,
    read_film_format,
)
from classifier.training.config import TrainConfig
from classifier.training.datasets import FilmDataset, grey_tensor, read_split
from classifier.training.loop import resume, train
from cli.clf import main
from labeler.packs import region_ids

OLD_RUN = Path(__file__).parents[1] / "data" / "classifier" / "old_run"

pytestmark = pytest.mark.filterwarnings("ignore:validation has only one")


def _cli(*args: object) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


# --- the record itself ------------------------------------------------------------------------


def test_records_round_trip_and_reject_what_they_cannot_mean() -> None:
    film = FilmFormat(320, 16, WINDOWING, ("a", "b"))
    prep = Preprocessing(film, 64, 56, (0.5,) * 3, (0.25,) * 3, ("a", "b", "normal"))
    assert FilmFormat.from_dict(film.to_dict(), "x") == film
    assert Preprocessing.from_dict(json.loads(json.dumps(prep.to_dict())), "x") == prep
    assert (prep.build_size, prep.bit_depth, film.top) == (320, 16, 65535)
    legacy = Preprocessing(None, 64, 56, (0.5,) * 3, (0.25,) * 3, ("a",))
    assert (legacy.build_size, legacy.bit_depth) == (LEGACY_BUILD_SIZE, LEGACY_BIT_DEPTH)
    with pytest.raises(RecordError, match="bit depth must be 8 or 16"):
        FilmFormat(320, 12, WINDOWING, ("a",))
    with pytest.raises(RecordError, match="not a cxrclf-dataset record"):
        FilmFormat.from_dict({"size": 3}, "m.json")
    with pytest.raises(RecordError, match="incomplete preprocessing record"):
        Preprocessing.from_dict({"film": None}, "ckpt")


# --- build at 320 px, 16 bits; train; predict and heatmap prepare films as training did --------


@pytest.fixture(scope="module")
def dicom_dataset(films, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """DICOM films of 24 patients with their labels.csv, built at 320 px and 16 bits."""
    root = tmp_path_factory.mktemp("contract")
    reports = {}
    for i, (patient, report, labels) in enumerate(films.cohort(24, seed=2)):
        pixels = films.chest(48 + i % 3 * 8, 40, seed=i)  # not square: the build letterboxes
        films.write_dicom(root / "dicom" / f"{i}.dcm", pixels, patient_id=patient, accession=report)
        reports[report] = labels
    films.write_labels(root / "labels.csv", reports)
    _cli(
        "dataset", "build", "--images", root / "dicom", "--labels", root / "labels.csv",
        "-o", root / "data", "--size", 320, "--bit-depth", 16, "--split", "0.5,0.3,0.2",
    )  # fmt: skip
    return root / "dicom", root / "data" / "manifest.csv"


def test_build_writes_the_record_and_training_copies_it(
    dicom_dataset: tuple[Path, Path], tiny_arch: str, tmp_path: Path
) -> None:
    dicom, manifest = dicom_dataset
    made = read_film_format(manifest)
    assert made == FilmFormat(320, 16, WINDOWING, region_ids())
    cfg = TrainConfig(
        data=str(manifest), arch=tiny_arch, resize=64, crop=56, epochs=1, batch_size=8,
        workers=0, device="cpu", augment=False,
    )  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    clf = load_classifier(tmp_path / "run" / "best.pt", "cpu")
    prep = clf.meta.preprocessing
    assert prep.film == made
    assert (prep.resize, prep.crop, prep.labels) == (64, 56, region_ids())
    assert (prep.mean, prep.std) == (clf.spec.mean, clf.spec.std)

    # Training's validation view of each film (its 16-bit PNG) against what predict and heatmap
    # make from the film's DICOM through the checkpoint alone.
    val = read_split(manifest, "val", prep.labels)
    seen = FilmDataset(val, cfg.resize, cfg.crop_size, train=False)
    rows = pd.read_csv(manifest, dtype=str).query("split == 'val'")
    sources = [dicom / f for f in rows["source_file"]]
    assert [manifest.parent / i for i in rows["image"]] == list(val.paths)
    for index, source in enumerate(sources):
        trained = seen[index][0]
        assert torch.allclose(prepare_file(source, prep), trained, atol=1e-6, rtol=0)
        assert torch.allclose(network_view(clf, source), trained, atol=1e-6, rtol=0)
    predicted = score_files(clf, sources, batch_size=4)
    assert predicted.reasons == ("",) * len(sources)
    assert np.allclose(predicted.scores, score_images(clf, val, batch_size=4), atol=1e-6)

    # The test can fail: the hard-coded 256 px, 16-bit preparation of before gives other films.
    legacy = training_image(read_film(sources[0]), LEGACY_BUILD_SIZE, LEGACY_BIT_DEPTH)
    old_view = centre_crop(grey_tensor(legacy.astype(np.float32) / 65535, 64), 56)
    assert (old_view - seen[0][0]).abs().max() > 1e-3


def test_evaluate_refuses_a_manifest_made_otherwise(
    dicom_dataset: tuple[Path, Path], tiny_arch: str, tmp_path: Path
) -> None:
    dicom, manifest = dicom_dataset
    cfg = TrainConfig(
        data=str(manifest), arch=tiny_arch, resize=64, crop=56, epochs=1, batch_size=8,
        workers=0, device="cpu", augment=False,
    )  # fmt: skip
    train(cfg, tmp_path / "run", progress=False)
    shutil.copytree(manifest.parent, tmp_path / "data8")
    record = tmp_path / "data8" / "manifest.json"
    record.write_text(record.read_text().replace('"bit_depth": 16', '"bit_depth": 8'))
    result = CliRunner().invoke(
        main,
        ["evaluate", str(tmp_path / "run"), "--data", str(tmp_path / "data8" / "manifest.csv")],
    )
    assert result.exit_code == 2
    assert "320x320 8-bit" in result.output and "trained on 320x320 16-bit" in result.output


# --- a run from before the record: version-1 checkpoints ----------------------------------------


@pytest.fixture
def old_run(tmp_path: Path, tiny_arch: str) -> Iterator[Path]:
    """A copy of the version-1 run, used with one torch thread as it was made (training sums
    in another order would drift in the resumed epoch)."""
    shutil.copytree(OLD_RUN, tmp_path / "old")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield tmp_path / "old"
    finally:
        torch.set_num_threads(threads)


def test_an_old_checkpoint_is_migrated_with_its_film_format_unknown(old_run: Path) -> None:
    raw = torch.load(old_run / "run" / "best.pt", weights_only=True)
    assert raw["format_version"] == 1 and "labels" in raw["meta"]
    meta = checkpoint.load(old_run / "run" / "best.pt").meta
    assert meta.preprocessing == Preprocessing(
        film=None,
        resize=48,
        crop=40,
        mean=tuple(raw["meta"]["mean"]),
        std=tuple(raw["meta"]["std"]),
        labels=region_ids(),
    )
    assert (meta.arch, meta.task, meta.epoch) == ("tinynet", "regions", 1)
    # Saved again, it is a version-2 file that reads back the same.
    checkpoint.save(old_run / "again.pt", checkpoint.load(old_run / "run" / "best.pt"))
    assert torch.load(old_run / "again.pt", weights_only=True)["format_version"] == 2
    assert checkpoint.load(old_run / "again.pt").meta == meta


def _flat(data: dict, prefix: str = "") -> dict[str, object]:
    """Nested JSON as one level, keys joined by '/', so pytest.approx can compare it."""
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}/")
        else:
            out[prefix + key] = value
    return out


def _numbers(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.select_dtypes("number")


def test_an_old_run_evaluates_predicts_and_draws_as_before(old_run: Path) -> None:
    run, expected = old_run / "run", old_run / "expected"
    _cli(
        "evaluate", run, "--data", old_run / "data" / "manifest.csv", "--bootstrap", 50,
        "--device", "cpu", "--quiet", "-o", old_run / "eval",
    )  # fmt: skip
    got = json.loads((old_run / "eval" / "metrics.json").read_text())
    want = json.loads((expected / "eval-test" / "metrics.json").read_text())
    del got["checkpoint"], want["checkpoint"]
    got, want = _flat(got), _flat(want)
    floats = {k for k, v in want.items() if isinstance(v, float)}
    # metrics.json has since gained the class counts behind its bootstrap intervals
    assert set(got) - set(want) == {"positives", "negatives", "mean_ci_replicates"}
    assert {k: v for k, v in got.items() if k in want and k not in floats} == {
        k: v for k, v in want.items() if k not in floats
    }
    assert {k: got[k] for k in floats} == pytest.approx({k: want[k] for k in floats}, rel=1e-6)
    got_rows = pd.read_csv(old_run / "eval" / "predictions.csv")
    want_rows = pd.read_csv(expected / "eval-test" / "predictions.csv")
    assert [Path(p).name for p in got_rows["image"]] == [Path(p).name for p in want_rows["image"]]
    pd.testing.assert_frame_equal(_numbers(got_rows), _numbers(want_rows), rtol=1e-6)
    calibration = json.loads((run / "best.calibration.json").read_text())
    assert calibration == json.loads((expected / "best.calibration.json").read_text())

    _cli(
        "predict", old_run / "films", "--checkpoint", run / "best.pt", "-o", old_run / "p.csv",
        "--confidence", 0.6, "--device", "cpu", "--quiet",
    )  # fmt: skip
    got_rows = pd.read_csv(old_run / "p.csv", keep_default_na=False)
    want_rows = pd.read_csv(expected / "predict.csv", keep_default_na=False)
    # the old `threshold` column says the same under its later name
    want_rows = want_rows.rename(columns={"threshold": "threshold_source"})
    assert [Path(p).name for p in got_rows["file"]] == [Path(p).name for p in want_rows["file"]]
    pd.testing.assert_frame_equal(got_rows.drop(columns="file"), want_rows.drop(columns="file"))

    _cli(
        "heatmap", old_run / "films" / "chest.dcm", "--checkpoint", run / "best.pt",
        "--region", "heart", "--size", 64, "--device", "cpu", "-o", old_run / "hm",
    )  # fmt: skip
    name = "chest_heart_gradcam.png"
    got_png = np.asarray(Image.open(old_run / "hm" / name))
    assert np.array_equal(got_png, np.asarray(Image.open(expected / "heatmaps" / name)))


def test_an_old_run_resumes_where_it_stopped(old_run: Path) -> None:
    config = old_run / "run" / "config.yaml"
    text = config.read_text().replace("epochs: 2", "epochs: 3")
    lines = [
        f"data: {old_run / 'data' / 'manifest.csv'}" if line.startswith("data:") else line
        for line in text.splitlines()
    ]
    config.write_text("\n".join(lines) + "\n")
    result = resume(old_run / "run", progress=False)
    assert result.epochs_run == 3
    got = pd.read_csv(old_run / "run" / "history.csv").drop(columns="train_img_per_s")
    want = pd.read_csv(old_run / "expected" / "history-resumed.csv").drop(columns="train_img_per_s")
    pd.testing.assert_frame_equal(got, want, rtol=1e-6)
    assert checkpoint.load(old_run / "run" / "last.pt").meta.preprocessing.film is not None

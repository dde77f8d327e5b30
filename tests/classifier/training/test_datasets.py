from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.data.manifest import ManifestRow, write_manifest
from classifier.data.transforms import AugmentSpec
from classifier.demo.data import write_demo
from classifier.run import WINDOWING, FilmFormat
from classifier.training.datasets import (
    DataError,
    FilmDataset,
    LabelledImages,
    load_grey,
    prepare_batch,
    read_manifest,
    read_split,
    refuse_missing,
)
from labeler.packs import region_ids


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo"), n_films=30, size=64)


def test_regions_come_from_the_data_not_the_rule_pack(tmp_path: Path) -> None:
    rows = [
        ManifestRow(
            f"images/{i}.png", f"P{i}", "s", "r", split, (i % 2, 1 - i % 2), ("", ""), "", ""
        )
        for i, split in enumerate(["train", "train", "val", "val"])
    ]
    write_manifest(rows, tmp_path, FilmFormat(64, 8, WINDOWING, ("spine", "ribs")))
    data = read_manifest(tmp_path / "manifest.csv", aux_normal=True)
    assert data.labels == ("spine", "ribs", "normal") and data.scored == ("spine", "ribs")
    assert data.film.regions == ("spine", "ribs")
    val = read_split(tmp_path / "manifest.csv", "val", ("ribs", "spine"))
    assert val.labels.tolist() == [[1, 0], [0, 1]]  # films 2 and 3, columns reordered
    with pytest.raises(DataError, match=r"no label columns \['heart'\]"):
        read_split(tmp_path / "manifest.csv", "val", ("heart",))


def test_manifest_labels_follow_the_rule_pack(demo: Path) -> None:
    data = read_manifest(demo)
    assert data.labels == data.scored == region_ids()
    assert len(data.train) + len(data.val) == 27  # 3 films are test
    assert all(p.is_file() for p in data.train.paths)
    assert data.train.labels.shape == (len(data.train), len(region_ids()))


def test_auxiliary_normal_output(demo: Path) -> None:
    data = read_manifest(demo, aux_normal=True)
    assert data.labels[-1] == "normal" and data.scored == region_ids()
    labels = data.train.labels
    assert np.array_equal(labels[:, -1], labels[:, :-1].sum(1) == 0)


def test_manifest_errors(tmp_path: Path, demo: Path) -> None:
    with pytest.raises(DataError, match="no such manifest"):
        read_manifest(tmp_path / "none.csv")
    bad = tmp_path / "m.csv"
    bad.write_text("image,split,thorax\na.png,train,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="no label columns"):
        read_manifest(bad)
    bad.write_text("image,split,thorax,thorax_state\na.png,train,1,positive\n", encoding="utf-8")
    with pytest.raises(DataError, match="manifest lacks columns"):
        read_manifest(bad)
    header, first, *rest = demo.read_text(encoding="utf-8").splitlines()
    cells = first.split(",")
    cells[header.split(",").index("lungs")] = "-1"  # an uncertain region kept as -1
    (demo.parent / "kept.csv").write_text("\n".join([header, ",".join(cells), *rest]) + "\n")
    with pytest.raises(DataError, match="region labels must be 0 or 1"):
        read_manifest(demo.parent / "kept.csv")
    text = demo.read_text(encoding="utf-8").replace(",val,", ",test,")
    (demo.parent / "noval.csv").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="no films with split == 'val'"):
        read_manifest(demo.parent / "noval.csv")


def test_eight_and_sixteen_bit_films_read_alike(tmp_path: Path) -> None:
    ramp = np.linspace(0, 1, 64 * 64, dtype=np.float64).reshape(64, 64)
    Image.fromarray((ramp * 255).round().astype(np.uint8)).save(tmp_path / "a.png")
    Image.fromarray((ramp * 65535).round().astype(np.uint16)).save(tmp_path / "b.png")
    a, b = load_grey(tmp_path / "a.png", 64), load_grey(tmp_path / "b.png", 64)
    assert a.shape == b.shape == (1, 64, 64)
    assert torch.allclose(a, b, atol=1 / 255)
    assert load_grey(tmp_path / "b.png", 32).shape == (1, 32, 32)


@pytest.mark.parametrize("augment", [None, AugmentSpec()])
def test_random_draws_depend_on_seed_epoch_and_index_only(
    demo: Path, augment: AugmentSpec | None
) -> None:
    images = read_manifest(demo).train
    one = FilmDataset(images, resize=64, crop=48, train=True, seed=3, augment=augment)
    two = FilmDataset(images, resize=64, crop=48, train=True, seed=3, augment=augment)
    film, label = one[4]
    assert film.shape == (1, 48, 48) and label.shape == (5,)
    torch.manual_seed(0)  # the global RNG plays no part
    assert torch.equal(two[4][0], film)
    one.set_epoch(1)
    assert not torch.equal(one[4][0], film)


def test_augmentation_rotates_before_the_crop(demo: Path) -> None:
    images = read_manifest(demo).train
    plain = FilmDataset(images, resize=64, crop=64, train=True)
    turned = FilmDataset(images, resize=64, crop=64, train=True, augment=AugmentSpec())
    assert torch.equal(plain[0][0], load_grey(images.paths[0], 64))
    assert not torch.equal(turned[0][0], plain[0][0])


def test_validation_crop_is_centred(demo: Path) -> None:
    images = read_manifest(demo).val
    val = FilmDataset(images, resize=64, crop=48, train=False, augment=AugmentSpec())
    assert torch.equal(val[0][0], load_grey(images.paths[0], 64)[:, 8:56, 8:56])


def test_crop_larger_than_film_is_refused() -> None:
    with pytest.raises(DataError, match="crop 80 is larger"):
        FilmDataset(LabelledImages((), np.zeros((0, 5))), resize=64, crop=80, train=True)


def test_prepare_batch_makes_three_normalised_channels() -> None:
    films = torch.full((2, 1, 4, 4), 0.5)
    x = prepare_batch(films, (0.5, 0.25, 0.0), (0.5, 0.25, 1.0))
    assert x.shape == (2, 3, 4, 4)
    assert torch.allclose(x[:, 0], torch.zeros(1)) and torch.allclose(x[:, 1], torch.ones(1))
    assert torch.allclose(x[:, 2], torch.full((1,), 0.5))


def test_manifest_row_whose_film_is_missing_or_corrupt(tmp_path: Path, demo: Path) -> None:
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(demo.parent, copy)
    manifest = copy / demo.name
    images = read_split(manifest, "train").paths
    images[0].unlink()
    with pytest.raises(DataError, match=f"1 films missing: {images[0]}$"):
        refuse_missing(manifest, read_split(manifest, "train"))
    images[0].write_bytes(b"not a png")
    dataset = FilmDataset(read_split(manifest, "train"), resize=64, crop=64, train=False)
    with pytest.raises(DataError, match=f"{images[0].name}: film cannot be read"):
        dataset[0]

"""The film cache (CPU here: the GPU runs the same code) against the DataLoader path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from classifier.data.transforms import AugmentSpec
from classifier.demo.data import write_demo
from classifier.models import checkpoint
from classifier.training.cache import Draws, FilmCache
from classifier.training.config import TrainConfig
from classifier.training.datasets import FilmDataset, draw, read_manifest
from classifier.training.loop import train
from classifier.training.parts import build_parts, epoch_loader

pytestmark = pytest.mark.filterwarnings("ignore:validation has only one class")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Films already at the resize side, so the cache's uint8 copy is lossless.
    return write_demo(tmp_path_factory.mktemp("demo"), n_films=40, size=36)


def _cfg(manifest: Path, **changes) -> TrainConfig:
    base = dict(
        data=str(manifest),
        arch="mobilenet_v2",
        resize=36,
        crop=32,
        batch_size=8,
        workers=0,
        device="cpu",
    )
    return TrainConfig(**(base | changes))


@pytest.mark.parametrize(("train_split", "workers"), [(True, 0), (True, 1), (False, 0)])
def test_loop_batches_match_the_dataloader_path(
    demo: Path, tmp_path: Path, train_split: bool, workers: int
) -> None:
    parts = {
        cached: build_parts(_cfg(demo, film_cache=cached, epochs=3, workers=workers))
        for cached in (False, True)
    }
    assert parts[True].caches and not parts[False].caches
    for epoch in (0, 2):
        batches = {}
        for cached, made in parts.items():
            dataset = made.train_set if train_split else made.val_set
            dataset.set_epoch(epoch)
            batches[cached] = list(epoch_loader(made, train_split, epoch))
        assert len(batches[True]) == len(batches[False])
        for (films, labels), (cached_films, cached_labels) in zip(
            batches[False], batches[True], strict=True
        ):
            assert torch.equal(labels, cached_labels)  # same films in the same order
            assert cached_films.shape == films.shape and cached_films.dtype == torch.float32
            torch.testing.assert_close(cached_films, films, atol=1e-5, rtol=0)


def test_resized_films_differ_by_at_most_half_a_grey_level(tmp_path: Path) -> None:
    manifest = write_demo(tmp_path, n_films=12, size=48)
    films = FilmDataset(
        read_manifest(manifest).train, 40, 32, train=True, seed=3, augment=AugmentSpec()
    )
    films.set_epoch(5)
    cache = FilmCache(films, torch.device("cpu"))
    assert cache.films.dtype == torch.uint8 and cache.films.numel() == len(films) * 40 * 40
    indices = torch.tensor([4, 0, 7, 7])
    batch, labels = cache.batch(*default_collate([Draws(films)[i] for i in indices.tolist()]))
    expected = torch.stack([films[i][0] for i in indices.tolist()])
    assert batch.shape == (4, 1, 32, 32)
    assert (batch - expected).abs().max() <= 0.5 / 255 + 1e-5
    assert torch.equal(labels, torch.from_numpy(films.images.labels[indices.numpy()]))


def test_draws_stay_within_the_spec() -> None:
    spec = AugmentSpec()
    for index in range(200):
        params, top, left = draw(0, index % 7, index, spec, room=24)
        angle, scale, shift_x, shift_y = params[0].tolist()
        assert abs(angle) <= spec.max_rotation and spec.min_scale <= scale <= 1
        assert max(abs(shift_x), abs(shift_y)) <= 1 - scale + 1e-12
        assert 0 <= top <= 24 and 0 <= left <= 24
    assert draw(1, 2, 3, spec, 24)[1:] == draw(1, 2, 3, spec, 24)[1:]
    assert torch.equal(draw(1, 2, 3, spec, 24)[0], draw(1, 2, 3, spec, 24)[0])
    assert draw(1, 2, 3, None, 24)[0] is None


def test_training_with_the_cache_matches_training_without(demo: Path, tmp_path: Path) -> None:
    for cached in (False, True):
        train(_cfg(demo, film_cache=cached, epochs=1), tmp_path / str(cached), progress=False)
    plain = checkpoint.load(tmp_path / "False" / "last.pt").model
    cached = checkpoint.load(tmp_path / "True" / "last.pt").model
    for key, value in plain.items():
        torch.testing.assert_close(cached[key], value, atol=1e-5, rtol=1e-4, msg=key)
    assert "film_cache: true" in (tmp_path / "True" / "config.yaml").read_text()

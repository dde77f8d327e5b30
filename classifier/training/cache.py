"""Film cache on the training device: films decoded once, augmented there in batch.

A DataLoader decodes PNGs and warps one film at a time in CPU workers; on a GPU that feeds
resnet34 or mobilenet_v2 at under half their model-only rate (shared/performance-targets.md).
`FilmCache` decodes a split once, keeps it on the device as uint8 at the `resize` side
(64 KiB a film at 256², 100k films = 6.5 GB), and turns a batch of film indices into the batch
FilmDataset would have produced: the same (seed, epoch, film) draws (training.datasets.draw),
the same warp and crop (data.transforms.warp_crops, here on the whole batch). The only
difference is the uint8 rounding of the resized film (at most half a grey level out of 255).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from classifier.data.transforms import warp_crops
from classifier.training.datasets import FilmDataset, draw, load_grey


class _Decoded(Dataset):
    """A split's films as uint8 (1, resize, resize), for the one decoding pass."""

    def __init__(self, films: FilmDataset) -> None:
        self.films = films

    def __len__(self) -> int:
        return len(self.films)

    def __getitem__(self, index: int) -> torch.Tensor:
        film = load_grey(self.films.images.paths[index], self.films.resize)
        return torch.floor(film * 255 + 0.5).clamp_(0, 255).to(torch.uint8)


_NO_WARP = torch.zeros(4, dtype=torch.float64)


class Draws(Dataset):
    """A film's index and random draws in place of the film: a DataLoader over it yields the
    order a FilmDataset loader with the same sampler, batch size and generator would, and its
    workers make the per-film draws (a few Python-level ops each) while the device trains.

    Items: (index, augmentation row (zeros when not warped), crop top, crop left).
    """

    def __init__(self, films: FilmDataset) -> None:
        self.films = films

    def __len__(self) -> int:
        return len(self.films)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, int, int]:
        data = self.films
        room = data.resize - data.crop
        if not data.train:
            return index, _NO_WARP, room // 2, room // 2
        params, top, left = draw(data.seed, data.epoch, index, data.augment, room)
        return index, _NO_WARP if params is None else params[0], top, left


class FilmCache:
    """The films of `films` (a FilmDataset, whose settings and epoch it follows) on `device`."""

    def __init__(self, films: FilmDataset, device: torch.device, workers: int = 0) -> None:
        self.dataset = films
        self.device = torch.device(device)
        # A private generator: a DataLoader otherwise draws its seed from the global RNG,
        # which dropout uses, and the run would depend on whether the cache is on.
        loader = DataLoader(
            _Decoded(films), batch_size=64, num_workers=workers, generator=torch.Generator()
        )
        self.films = torch.empty(
            (len(films), 1, films.resize, films.resize), dtype=torch.uint8, device=self.device
        )
        start = 0
        for chunk in loader:
            self.films[start : start + len(chunk)] = chunk.to(self.device)
            start += len(chunk)
        self.labels = torch.from_numpy(films.images.labels)

    def __len__(self) -> int:
        return len(self.dataset)

    def batch(
        self, index: torch.Tensor, params: torch.Tensor, top: torch.Tensor, left: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A collated batch of Draws → films (B, 1, crop, crop) in [0, 1] on the device and
        their labels (on the CPU)."""
        data = self.dataset
        index = index.to(torch.int64)
        films = self.films[index.to(self.device, non_blocking=True)].float().div_(255)
        top = top.to(self.device, non_blocking=True)
        left = left.to(self.device, non_blocking=True)
        if data.train and data.augment is not None:
            crops = warp_crops(films, params, top, left, data.crop)
        else:
            steps = torch.arange(data.crop, device=self.device)
            rows = (top[:, None] + steps)[:, :, None]
            cols = (left[:, None] + steps)[:, None, :]
            picked = torch.arange(len(index), device=self.device)[:, None, None]
            crops = films[:, 0][picked, rows, cols].unsqueeze(1)
        return crops, self.labels[index]


class CachedLoader:
    """Batches of a FilmCache in the order of a DataLoader over its Draws."""

    def __init__(self, indices: DataLoader, cache: FilmCache) -> None:
        self.indices = indices
        self.cache = cache

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self.indices:
            yield self.cache.batch(*batch)

"""The parts of a training run, built from its config: data, network, optimiser, scheduler,
loss, datasets and film caches, and the loader that feeds one epoch. Building is all here, so
the loop (classifier.training.loop) only steps and the run folder (classifier.training.rundir)
only writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from classifier.data.transforms import AugmentSpec
from classifier.models import checkpoint
from classifier.models.registry import ArchSpec, create_model, get_spec
from classifier.run import Preprocessing, Task
from classifier.training import distributed
from classifier.training.cache import CachedLoader, Draws, FilmCache
from classifier.training.config import Regime, TrainConfig
from classifier.training.datasets import FilmDataset, TaskData, read_manifest, refuse_missing
from classifier.training.losses import get_loss
from classifier.training.nih import read_nih
from classifier.training.runtime import Runtime


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a run folder in the way)."""


def load_task_data(cfg: TrainConfig) -> TaskData:
    if cfg.data is None:
        raise TrainingError("no data: give a manifest (train) or an NIH folder (pretrain)")
    if cfg.task is Task.CHESTX14:
        return read_nih(Path(cfg.data), seed=cfg.seed)
    data = read_manifest(Path(cfg.data), aux_normal=cfg.aux_normal)
    for images in (data.train, data.val):
        refuse_missing(Path(cfg.data), images)
    return data


def build_model(cfg: TrainConfig, outputs: int, initialise: bool = True) -> nn.Module:
    """The network with its head sized for `outputs`, initialised as the regime says.

    `initialise=False` skips the pretrained weights, for a resume that overwrites them anyway.
    """
    weights = Path(cfg.weights) if cfg.weights else None
    imagenet = initialise and cfg.pretrain is Regime.IMAGENET
    model = create_model(cfg.arch, outputs, imagenet=imagenet, weights=weights)
    if initialise and cfg.pretrain is Regime.CHESTX14:
        checkpoint.load_backbone(model, get_spec(cfg.arch), Path(cfg.init))
    return model


@dataclass(frozen=True)
class Parts:
    """Everything a run trains with. `net` is the network itself (state dicts, validation);
    `model` is what training calls (`net` wrapped in DistributedDataParallel under torchrun)."""

    cfg: TrainConfig
    spec: ArchSpec
    group: distributed.Group
    runtime: Runtime
    data: TaskData
    net: nn.Module
    model: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    train_set: FilmDataset
    val_set: FilmDataset
    caches: dict[bool, FilmCache]  # by "is the training split"; empty without the film cache

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def logits(self, films: torch.Tensor, distributed_model: bool = True) -> torch.Tensor:
        """Float32 logits; `distributed_model=False` runs the bare network (validation)."""
        network = self.model if distributed_model else self.net
        return self.runtime.forward(network, films, self.spec.mean, self.spec.std)


def build_parts(
    cfg: TrainConfig, initialise: bool = True, group: distributed.Group | None = None
) -> Parts:
    """The parts of a run as `cfg` says; `initialise=False` skips pretrained weights (resume)."""
    group = group or distributed.Group()
    spec = get_spec(cfg.arch)
    runtime = Runtime.pick(
        cfg.device, cfg.channels_last, group.local_rank if group.active else None
    )
    data = load_task_data(cfg)
    torch.manual_seed(cfg.seed)
    net = runtime.place(build_model(cfg, len(data.labels), initialise))
    model: nn.Module = net
    if group.active:
        # Same initial weights on every rank (DDP broadcasts rank 0's anyway), but each
        # rank draws its own dropout masks.
        torch.manual_seed(cfg.seed + 7919 * group.rank)
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        model = DistributedDataParallel(net, device_ids=ids)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    augment = AugmentSpec() if cfg.augment else None
    train_set = FilmDataset(
        data.train, cfg.resize, cfg.crop_size, train=True, seed=cfg.seed, augment=augment
    )
    val_set = FilmDataset(data.val, cfg.resize, cfg.crop_size, train=False)
    caches: dict[bool, FilmCache] = {}
    if cfg.film_cache if cfg.film_cache is not None else runtime.device.type == "cuda":
        caches[True] = FilmCache(train_set, runtime.device, cfg.workers)
        if group.main:  # only rank 0 validates
            caches[False] = FilmCache(val_set, runtime.device, cfg.workers)
    return Parts(
        cfg=cfg,
        spec=spec,
        group=group,
        runtime=runtime,
        data=data,
        net=net,
        model=model,
        loss_fn=get_loss(cfg.loss),
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.ExponentialLR(optimizer, cfg.lr_decay),
        train_set=train_set,
        val_set=val_set,
        caches=caches,
    )


def epoch_loader(parts: Parts, train: bool, epoch: int) -> DataLoader | CachedLoader:
    """Batches of the training split (shuffled) or the validation split for `epoch`.

    Order and worker seeds come from a generator seeded by the epoch, so a resumed run draws the
    same batches as an uninterrupted one. With the film cache the loader yields film indices
    and draws in that same order, and the cache makes the batches.
    """
    cfg, group = parts.cfg, parts.group
    dataset = parts.train_set if train else parts.val_set
    generator = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
    cache = parts.caches.get(train)
    source = Draws(dataset) if cache is not None else dataset
    sampler = None
    if train and group.active:
        # Each rank gets its own shard of the epoch's permutation (seeded by seed, epoch).
        sampler = DistributedSampler(source, group.world, group.rank, seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    films = len(sampler) if sampler is not None else len(dataset)
    loader = DataLoader(
        source,
        batch_size=cfg.batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        # A last batch of one film would break BatchNorm in training.
        drop_last=train and films > cfg.batch_size,
        num_workers=cfg.workers,
        pin_memory=parts.device.type == "cuda" and cache is None,
        generator=generator,
    )
    return loader if cache is None else CachedLoader(loader, cache)


def checkpoint_meta(
    parts: Parts, epoch: int, metrics: dict[str, float]
) -> checkpoint.CheckpointMeta:
    """What a checkpoint of this run says about itself: the preprocessing record copies the
    dataset's FilmFormat and adds this run's resize, crop, mean/std and output names."""
    cfg = parts.cfg
    preprocessing = Preprocessing(
        film=parts.data.film,
        resize=cfg.resize,
        crop=cfg.crop_size,
        mean=parts.spec.mean,
        std=parts.spec.std,
        labels=parts.data.labels,
    )
    return checkpoint.CheckpointMeta(
        arch=cfg.arch,
        task=parts.data.task,
        preprocessing=preprocessing,
        epoch=epoch,
        metrics=metrics,
    )

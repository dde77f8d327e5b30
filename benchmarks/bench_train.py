"""Training throughput per architecture: the model alone vs the full data path.

Model only: one batch of films already in device memory, trained step after step.
Full path: demo PNG films decoded, resized, augmented (rotation ±15° + random crop) in DataLoader
workers, then the same training step; with --cache, the films decoded once into the film cache
on the device (classifier.training.cache) and augmented there in batch, as `--film-cache` trains.
Target (docs/training.md): full ≥ 90% of model only.

    .venv/bin/python benchmarks/bench_train.py                       # CPU: batch 16, 2 threads
    .venv/bin/python benchmarks/bench_train.py --batch-size 256 --workers 15   # on a GPU
    .venv/bin/python benchmarks/bench_train.py --batch-size 256 --cache        # on a GPU
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, RandomSampler

from classifier.data.transforms import AugmentSpec
from classifier.demo.data import write_demo
from classifier.models.registry import arch_names, create_model, get_spec
from classifier.training.cache import CachedLoader, Draws, FilmCache
from classifier.training.datasets import FilmDataset, read_manifest
from classifier.training.losses import bce
from classifier.training.runtime import Runtime


def _device_name(runtime: Runtime) -> str:
    if runtime.device.type == "cuda":
        return f"{torch.cuda.get_device_name(runtime.device)} (bf16 autocast, channels_last)"
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {torch.get_num_threads()} threads (float32, channels_last)"


def _sync(runtime: Runtime) -> None:
    if runtime.device.type == "cuda":
        torch.cuda.synchronize(runtime.device)


def _rate(runtime: Runtime, arch: str, batches, warmup: int, steps: int) -> float:
    """Images per second over `steps` training steps after `warmup` untimed ones."""
    spec = get_spec(arch)
    model = runtime.place(create_model(arch, 5)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seen = 0
    start = 0.0
    for index, (films, targets) in enumerate(itertools.islice(batches, warmup + steps)):
        if index == warmup:
            _sync(runtime)
            start = time.perf_counter()
        loss = bce(runtime.forward(model, films, spec.mean, spec.std), targets.to(runtime.device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            seen += len(films)
    _sync(runtime)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(arch_names()), choices=arch_names())
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--films", type=int, default=200, help="demo films written for the path")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--cache", action="store_true", help="full path through the film cache on the device"
    )
    args = parser.parse_args()

    runtime = Runtime.pick(args.device)
    print(f"device: {_device_name(runtime)}; torch {torch.__version__}")
    source = "film cache on the device" if args.cache else f"{args.workers} DataLoader workers"
    print(f"batch {args.batch_size}, {source}, {args.steps} timed steps")
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_demo(Path(tmp), n_films=args.films, size=256)
        films = read_manifest(manifest).train
        print(f"{'arch':<22}{'model only':>12}{'full path':>12}{'ratio':>8}   img/s")
        for arch in args.archs:
            crop = get_spec(arch).input_size
            data = FilmDataset(films, 256, crop, train=True, augment=AugmentSpec())
            batch = next(iter(DataLoader(data, batch_size=args.batch_size)))
            # Model only: the same in-memory batch every step, already on the device.
            resident = tuple(t.to(runtime.device) for t in batch)
            model_only = _rate(runtime, arch, itertools.repeat(resident), args.warmup, args.steps)
            # One long pass over films drawn with replacement, so that every worker has batches
            # to prepare however few demo films there are.
            needed = (args.warmup + args.steps + 2 * max(args.workers, 1)) * args.batch_size
            if args.cache:
                # Decoding happens once, before timing, as it does before a run's first epoch.
                cache = FilmCache(data, runtime.device, args.workers)
                indices = DataLoader(
                    Draws(data),
                    batch_size=args.batch_size,
                    sampler=RandomSampler(data, replacement=True, num_samples=needed),
                    num_workers=args.workers,
                )
                batches = iter(CachedLoader(indices, cache))
            else:
                batches = iter(
                    DataLoader(
                        data,
                        batch_size=args.batch_size,
                        sampler=RandomSampler(data, replacement=True, num_samples=needed),
                        num_workers=args.workers,
                        pin_memory=runtime.device.type == "cuda",
                    )
                )
            full = _rate(runtime, arch, batches, args.warmup, args.steps)
            print(f"{arch:<22}{model_only:>12.1f}{full:>12.1f}{full / model_only:>8.0%}")


if __name__ == "__main__":
    main()

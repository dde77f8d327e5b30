"""Batch augmentation: warp the whole film then crop, against warp_crops (the crop's pixels only).

python benchmarks/bench_warp.py --films 256 --side 256 --crop 224 --repeats 5
"""

from __future__ import annotations

import argparse
import time

import torch

from classifier.data.transforms import AugmentSpec, sample_params, warp, warp_crops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=256)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    films = torch.rand(args.films, 1, args.side, args.side, generator=gen)
    params = sample_params(AugmentSpec(), args.films, gen)
    room = args.side - args.crop
    top, left = (torch.randint(0, room + 1, (args.films,), generator=gen) for _ in range(2))

    def warp_then_crop() -> torch.Tensor:
        full = warp(films, params)
        corners = zip(top.tolist(), left.tolist(), strict=True)
        return torch.stack(
            [full[i, :, y : y + args.crop, x : x + args.crop] for i, (y, x) in enumerate(corners)]
        )

    def crops_only() -> torch.Tensor:
        return warp_crops(films, params, top, left, args.crop)

    threads = torch.get_num_threads()
    print(f"cpu, {threads} threads, {args.films} films {args.side}² → crop {args.crop}")
    print(f"max |difference| {(warp_then_crop() - crops_only()).abs().max().item():.2e}")
    for fn in (warp_then_crop, crops_only, warp_then_crop, crops_only):
        start = time.perf_counter()
        for _ in range(args.repeats):
            fn()
        seconds = (time.perf_counter() - start) / args.repeats
        print(f"  {fn.__name__:15s} {args.films / seconds:8.0f} img/s")


if __name__ == "__main__":
    main()

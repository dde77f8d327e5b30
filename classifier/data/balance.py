"""Balancing the training split by replication, as the paper does for 胸廓 and 膈面/肋膈角.

A region's share is the fraction of training examples abnormal there. While some region with
abnormal films is under the target share, one more copy is added of a film abnormal in the
region furthest below it, preferring films abnormal in more under-target regions, then films
copied least so far (copies spread evenly over a region's films), then a seeded random order.
A copy raises its regions' shares and lowers every other region's, so targets can be out of
reach (five disjoint regions cannot all reach 20% while normal films remain); the growth cap
stops that and the regions left short are reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Training examples after balancing, at most, per training film before it.
MAX_GROWTH = 10.0


@dataclass(frozen=True)
class Balance:
    """Extra copies per film (input order) and the regions that stayed under the target."""

    copies: np.ndarray
    short: tuple[str, ...]


def balance(
    labels: np.ndarray,
    regions: Sequence[str],
    target: float,
    seed: int,
    max_growth: float = MAX_GROWTH,
) -> Balance:
    """`labels` is (films x regions) 0/1 for the training films; `target` in [0, 1)."""
    abnormal = labels.astype(bool)
    films = abnormal.shape[0]
    copies = np.zeros(films, dtype=np.int64)
    counts = abnormal.sum(axis=0).astype(np.int64)
    total = films
    # Random tie-breaking rank, fixed per film.
    rank = np.random.default_rng(seed).permutation(films)
    limit = int(max_growth * films)
    while total < limit:
        short = (counts < target * total) & (counts > 0)
        if not short.any():
            break
        shares = np.where(short, counts / total, np.inf)
        region = int(np.argmin(shares))
        candidates = np.flatnonzero(abnormal[:, region])
        helped = abnormal[candidates][:, short].sum(axis=1)
        # Lexicographic: most short regions helped, fewest copies, lowest rank.
        best = np.lexsort((rank[candidates], copies[candidates], -helped))[0]
        film = candidates[best]
        copies[film] += 1
        counts += abnormal[film]
        total += 1
    still_short = (counts < target * total) & (counts > 0)
    short_regions = tuple(r for r, s in zip(regions, still_short, strict=True) if s)
    return Balance(copies=copies, short=short_regions)

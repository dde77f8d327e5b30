"""Confidence on a label tree (paper 003): report a region only when its posterior is high enough,
else climb to the root "abnormal", else say the film is normal or uncertain.

The tree has two levels: the root "abnormal" and the classifier's regions below it. Each node gets
a histogram of validation scores for films where it is present and absent, P(s|l) and P(s|¬l);
Bayes with the node's prior turns a score into P(l|s). Numpy only: a saved tree works on scores
that are already computed, so it is fitted and tested on literals without a model or torch.

Over 300 lines on purpose: fitting, posteriors, decisions and the strict JSON reader of one
model, kept beside the fields the saved file stores.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FORMAT = "cxrclf-label-tree"
FORMAT_VERSION = 1
ROOT = "abnormal"

ROOT_MAX_REGION = "max-region"  # root score = max over region scores
ROOT_NORMAL_OUTPUT = "normal-output"  # root score = 1 - P(normal) from paper 002's extra output
ROOT_RULES = (ROOT_MAX_REGION, ROOT_NORMAL_OUTPUT)

FILM_ABNORMAL = "abnormal"
FILM_CLIMBED = "abnormal, region uncertain"
FILM_NORMAL = "normal"
FILM_UNCERTAIN = "uncertain"

_SUM_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ScoreHistogram:
    """Score histograms of one label on the fitting set, smoothed, with the label's prior."""

    edges: tuple[float, ...]  # bins + 1 increasing edges from 0.0 to 1.0
    positive: tuple[float, ...]  # P(bin | label present), sums to 1
    negative: tuple[float, ...]  # P(bin | label absent), sums to 1
    prior: float  # fraction of positives in the fitting set
    n_positive: int
    n_negative: int

    def __post_init__(self) -> None:
        bins = len(self.edges) - 1
        if bins < 1 or len(self.positive) != bins or len(self.negative) != bins:
            raise ValueError(
                f"histogram needs bins + 1 edges and bins probabilities per class, got "
                f"{len(self.edges)} edges, {len(self.positive)} positive, "
                f"{len(self.negative)} negative"
            )
        increasing = bool(np.all(np.diff(self.edges) > 0))
        if self.edges[0] != 0.0 or self.edges[-1] != 1.0 or not increasing:
            raise ValueError(f"histogram edges must increase from 0.0 to 1.0, got {self.edges}")
        for side, probs in (("positive", self.positive), ("negative", self.negative)):
            # Zero would make the posterior exactly 0 or 1 (or 0/0): see fit_histogram.
            if min(probs) <= 0.0 or abs(math.fsum(probs) - 1.0) > _SUM_TOLERANCE:
                raise ValueError(f"{side} bin probabilities must be > 0 and sum to 1, got {probs}")
        if not 0.0 < self.prior < 1.0:
            raise ValueError(f"prior must be in (0, 1), got {self.prior}")
        if self.n_positive < 1 or self.n_negative < 1:
            raise ValueError(
                f"histogram needs positives and negatives, got {self.n_positive} and "
                f"{self.n_negative}"
            )

    @property
    def bins(self) -> int:
        return len(self.positive)

    def posterior(self, scores: np.ndarray) -> np.ndarray:
        """P(label | score) = prior·P(bin|l) / (prior·P(bin|l) + (1 - prior)·P(bin|¬l))."""
        index = bin_index(self.edges, _finite(scores, "scores"))
        present = self.prior * np.asarray(self.positive)[index]
        absent = (1.0 - self.prior) * np.asarray(self.negative)[index]
        return present / (present + absent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": [float(e) for e in self.edges],
            "positive": [float(p) for p in self.positive],
            "negative": [float(p) for p in self.negative],
            "prior": float(self.prior),
            "n_positive": int(self.n_positive),
            "n_negative": int(self.n_negative),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ScoreHistogram:
        keys = ("edges", "positive", "negative", "prior", "n_positive", "n_negative")
        _check_keys(data, keys, where)
        return cls(
            edges=_floats(data["edges"], f"{where}.edges"),
            positive=_floats(data["positive"], f"{where}.positive"),
            negative=_floats(data["negative"], f"{where}.negative"),
            prior=_float(data["prior"], f"{where}.prior"),
            n_positive=_int(data["n_positive"], f"{where}.n_positive"),
            n_negative=_int(data["n_negative"], f"{where}.n_negative"),
        )


def bin_index(edges: Sequence[float], scores: np.ndarray) -> np.ndarray:
    """Bin of each score. Bins are [e_i, e_i+1) with the last one closed, so a score of exactly
    1.0 has a bin; scores outside [0, 1] are clipped rather than rejected, as a model's output
    may overshoot by rounding and the end bins are where such scores belong."""
    index = np.searchsorted(np.asarray(edges), np.clip(scores, 0.0, 1.0), side="right") - 1
    return np.clip(index, 0, len(edges) - 2)


def fit_histogram(
    scores: np.ndarray, targets: np.ndarray, bins: int = 10, name: str = "label"
) -> ScoreHistogram:
    """Histogram one label's scores (n,) by its 0/1 targets (n,) over `bins` equal bins of [0, 1].

    Add-one (Laplace) smoothing: validation sets are small, so a bin that happens to hold no
    negatives would otherwise give a posterior of exactly 1 there (and one empty on both sides
    0/0), i.e. certainty learnt from a handful of films; one pseudo-count per bin and class keeps
    every posterior strictly inside (0, 1).
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    s = _finite(scores, f"scores of {name!r}")
    t = _binary(targets, f"targets of {name!r}")
    if s.ndim != 1 or s.shape != t.shape:
        raise ValueError(
            f"scores and targets of {name!r} must be two vectors of one length, got shapes "
            f"{s.shape} and {t.shape}"
        )
    n_positive = int(t.sum())
    n_negative = int(t.size - n_positive)
    if n_positive == 0 or n_negative == 0:
        missing = "positives" if n_positive == 0 else "negatives"
        raise ValueError(
            f"label {name!r} has no {missing} in the fitting data ({n_positive} positive, "
            f"{n_negative} negative films): P(score|label) cannot be estimated"
        )
    edges = tuple(float(e) for e in np.linspace(0.0, 1.0, bins + 1))
    index = bin_index(edges, s)
    pos_counts = np.bincount(index[t], minlength=bins)
    neg_counts = np.bincount(index[~t], minlength=bins)
    return ScoreHistogram(
        edges=edges,
        positive=tuple(float(c + 1) / (n_positive + bins) for c in pos_counts),
        negative=tuple(float(c + 1) / (n_negative + bins) for c in neg_counts),
        prior=n_positive / (n_positive + n_negative),
        n_positive=n_positive,
        n_negative=n_negative,
    )


def root_scores(region_scores: np.ndarray, normal_scores: np.ndarray | None) -> np.ndarray:
    """The root "abnormal" score per film, from region scores (n, k) and optionally P(normal) (n,).

    With paper 002's auxiliary "normal" output the model has scored the root directly, so use
    1 - P(normal). Without it, take the max over regions: a film is abnormal exactly when any
    region is, and the most confident region is the best single evidence of that.
    """
    regions = _finite(region_scores, "region scores")
    if regions.ndim != 2 or regions.shape[1] < 1:
        raise ValueError(f"region scores must have shape (films, regions), got {regions.shape}")
    if normal_scores is None:
        return regions.max(axis=1)
    normal = _finite(normal_scores, "normal scores")
    if normal.shape != (regions.shape[0],):
        raise ValueError(
            f"normal scores must have one value per film ({regions.shape[0]}), got shape "
            f"{normal.shape}"
        )
    return 1.0 - normal


@dataclass(frozen=True)
class LabelTree:
    """Root "abnormal" over the regions; `children` is aligned with `regions`."""

    regions: tuple[str, ...]
    root: ScoreHistogram
    children: tuple[ScoreHistogram, ...]
    root_rule: str = ROOT_MAX_REGION  # how the root score was made when fitting; see root_scores

    def __post_init__(self) -> None:
        if not self.regions or len(self.children) != len(self.regions):
            raise ValueError(
                f"a label tree needs one histogram per region, got {len(self.regions)} regions "
                f"and {len(self.children)} histograms"
            )
        if len(set(self.regions)) != len(self.regions):
            raise ValueError(f"region names repeat: {self.regions}")
        if self.root_rule not in ROOT_RULES:
            raise ValueError(f"root_rule must be one of {ROOT_RULES}, got {self.root_rule!r}")

    def histogram(self, region: str) -> ScoreHistogram:
        return self.children[self.regions.index(region)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (lists, floats, ints, str), so json.dumps needs no encoder."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "root_rule": self.root_rule,
            "regions": list(self.regions),
            "root": self.root.to_dict(),
            "children": {r: h.to_dict() for r, h in zip(self.regions, self.children, strict=True)},
        }

    @classmethod
    def from_dict(cls, data: Any) -> LabelTree:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a label tree: expected format {FORMAT!r}, found {found!r}")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"label tree version {data.get('version')!r} is not supported (expected "
                f"{FORMAT_VERSION})"
            )
        _check_keys(data, ("format", "version", "root_rule", "regions", "root", "children"), "tree")
        regions = data["regions"]
        if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
            raise ValueError(f"label tree: regions must be a list of names, got {regions!r}")
        children = data["children"]
        if not isinstance(children, dict) or set(children) != set(regions):
            found = sorted(children) if isinstance(children, dict) else children
            raise ValueError(
                f"label tree: children must have one entry per region {regions}, got {found}"
            )
        return cls(
            regions=tuple(regions),
            root=ScoreHistogram.from_dict(data["root"], "root"),
            children=tuple(ScoreHistogram.from_dict(children[r], f"children.{r}") for r in regions),
            root_rule=str(data["root_rule"]),
        )


def fit_tree(
    scores: np.ndarray,
    targets: np.ndarray,
    regions: Sequence[str],
    normal_scores: np.ndarray | None = None,
    bins: int = 10,
) -> LabelTree:
    """Fit every node on validation outputs: region scores and 0/1 targets (n, k) in `regions`
    order; the root's target is "any region positive"."""
    names = tuple(regions)
    s = _finite(scores, "scores")
    t = _binary(targets, "targets")
    if s.ndim != 2 or s.shape != t.shape or s.shape[1] != len(names):
        raise ValueError(
            f"scores and targets must both have shape (films, {len(names)}) for regions {names}, "
            f"got {s.shape} and {t.shape}"
        )
    children = tuple(fit_histogram(s[:, j], t[:, j], bins, name) for j, name in enumerate(names))
    root = fit_histogram(root_scores(s, normal_scores), t.any(axis=1), bins, ROOT)
    rule = ROOT_MAX_REGION if normal_scores is None else ROOT_NORMAL_OUTPUT
    return LabelTree(regions=names, root=root, children=children, root_rule=rule)


def posteriors(
    tree: LabelTree, scores: np.ndarray, normal_scores: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """P(abnormal|s) per film (n,) and P(region|s) per film and region (n, k)."""
    s = _finite(scores, "scores")
    if s.ndim != 2 or s.shape[1] != len(tree.regions):
        raise ValueError(
            f"scores must have shape (films, {len(tree.regions)}) for regions {tree.regions}, "
            f"got {s.shape}"
        )
    # The root histogram only describes scores made the way they were at fitting time.
    if tree.root_rule == ROOT_NORMAL_OUTPUT and normal_scores is None:
        raise ValueError("this label tree was fitted on the 'normal' output: pass normal_scores")
    if tree.root_rule == ROOT_MAX_REGION and normal_scores is not None:
        raise ValueError(
            "this label tree was fitted without a 'normal' output (max over regions): "
            "do not pass normal_scores"
        )
    root = tree.root.posterior(root_scores(s, normal_scores))
    regions = np.empty(s.shape, dtype=float)
    for j, histogram in enumerate(tree.children):
        regions[:, j] = histogram.posterior(s[:, j])
    return root, regions


@dataclass(frozen=True)
class TreeDecision:
    """One film's report: confident regions, undecided regions, and the film-level verdict."""

    abnormal_regions: tuple[str, ...]  # posterior >= T
    uncertain_regions: tuple[str, ...]  # neither posterior >= T nor 1 - posterior >= T
    film: str  # FILM_ABNORMAL, FILM_CLIMBED, FILM_NORMAL or FILM_UNCERTAIN


def check_threshold(threshold: float) -> float:
    """T must be in (0.5, 1]: at T <= 0.5 a posterior p can satisfy both p >= T and 1 - p >= T,
    so a node would be confidently present and confidently absent at once."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"confidence threshold must be a number in (0.5, 1], got {threshold!r}")
    if not 0.5 < threshold <= 1.0:  # also rejects NaN
        raise ValueError(f"confidence threshold must be in (0.5, 1], got {threshold}")
    return float(threshold)


def decide_one(
    regions: tuple[str, ...], root_posterior: float, region_posteriors: Sequence[float], t: float
) -> TreeDecision:
    """Rules, first match wins for the film:
    abnormal: some region p >= T; abnormal, region uncertain: none, but P(abnormal) >= T;
    normal: 1 - P(abnormal) >= T; uncertain: otherwise. A region is uncertain when p < T and
    1 - p < T (both sides written the same way so rounding cannot open a gap between them)."""
    pairs = list(zip(regions, region_posteriors, strict=True))
    abnormal = tuple(r for r, p in pairs if p >= t)
    uncertain = tuple(r for r, p in pairs if p < t and 1.0 - p < t)
    if abnormal:
        film = FILM_ABNORMAL
    elif root_posterior >= t:
        film = FILM_CLIMBED
    elif 1.0 - root_posterior >= t:
        film = FILM_NORMAL
    else:
        film = FILM_UNCERTAIN
    return TreeDecision(abnormal_regions=abnormal, uncertain_regions=uncertain, film=film)


def decide(
    tree: LabelTree, scores: np.ndarray, threshold: float, normal_scores: np.ndarray | None = None
) -> list[TreeDecision]:
    """One TreeDecision per film (row of `scores`), in input order, at confidence T=`threshold`."""
    t = check_threshold(threshold)
    root, regions = posteriors(tree, scores, normal_scores)
    return [
        decide_one(tree.regions, float(root[i]), [float(p) for p in regions[i]], t)
        for i in range(root.shape[0])
    ]


def _finite(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return array


def _binary(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.isin(array, (0.0, 1.0)).all():
        raise ValueError(f"{what} must be 0 or 1 (leave unknown labels out before fitting)")
    return array == 1.0


def _check_keys(data: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"label tree: {where} must be a mapping, got {type(data).__name__}")
    missing = [k for k in keys if k not in data]
    unknown = sorted(set(data) - set(keys))
    if missing or unknown:
        raise ValueError(f"label tree: {where} has missing keys {missing}, unknown keys {unknown}")


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"label tree: {where} must be a number, got {value!r}")
    return float(value)


def _floats(values: Any, where: str) -> tuple[float, ...]:
    if not isinstance(values, list):
        raise ValueError(f"label tree: {where} must be a list of numbers, got {values!r}")
    return tuple(_float(v, f"{where}[{i}]") for i, v in enumerate(values))


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"label tree: {where} must be an integer, got {value!r}")
    return value

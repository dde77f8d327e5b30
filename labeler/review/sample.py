"""A stratified sample of a corpus for review, with the weights that undo its oversampling.

Each report falls in exactly one stratum, the first that applies:

- `error`: the report could not be labelled;
- `conflict`: a region got evidence of two states (a normal statement and a finding);
- `uncertain`: some region is uncertain;
- `positive:<region>`: some region is positive; the stratum is named by the rarest of its
  positive regions in this corpus, so reports about a rare region are a stratum of their own;
- `negative`: regions are mentioned, none abnormal;
- `no_region`: the report mentions no region at all (wording the pack may not know).

A simple random sample of 300 from a corpus where the aorta is positive in 2% of reports holds
about 6 aortic positives; stratifying gives rare strata more reports, and every sampled report
carries the weight `stratum size / reports sampled from it`, so `evaluate --sample` can estimate
the accuracy on the whole corpus rather than on the sample.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from labeler.audit.conflicts import conflicts_of
from labeler.audit.record import Auditor, ReportRecord
from labeler.labeler import Labeler
from labeler.types import LabelResult, Report, State

ERROR, CONFLICT, UNCERTAIN, NEGATIVE, NO_REGION = (
    "error",
    "conflict",
    "uncertain",
    "negative",
    "no_region",
)
POSITIVE = "positive:"  # + region id


@dataclass(frozen=True)
class Draw:
    """A report drawn for review: its place in the corpus, its stratum and the stratum's size."""

    index: int  # position in the corpus
    stratum: str
    stratum_size: int  # reports of the corpus in the stratum
    stratum_sampled: int  # reports of the sample drawn from it

    @property
    def weight(self) -> float:
        """How many corpus reports this one stands for (the inverse of its inclusion chance)."""
        return self.stratum_size / self.stratum_sampled


@dataclass(frozen=True)
class Sampled:
    """A drawn report with its audit record (text, cue hits, decisions): what the page shows."""

    record: ReportRecord
    stratum: str
    stratum_size: int
    stratum_sampled: int

    @property
    def weight(self) -> float:
        return self.stratum_size / self.stratum_sampled


def positive_counts(records: Sequence[LabelResult], regions: Sequence[str]) -> Counter[str]:
    """Reports with each region positive."""
    counts: Counter[str] = Counter({r: 0 for r in regions})
    for record in records:
        counts.update(d.region for d in record.decisions if d.state is State.POSITIVE)
    return counts


def stratum_of(record: LabelResult | ReportRecord, rarity: Sequence[str]) -> str:
    """The report's stratum from its label result (or audit record: both carry the decisions
    with their evidence); `rarity` lists the regions rarest first (positive_counts)."""
    if record.error is not None:
        return ERROR
    if conflicts_of(record):  # reads only report_id, row and decisions
        return CONFLICT
    states = {d.region: d.state for d in record.decisions}
    if State.UNCERTAIN in states.values():
        return UNCERTAIN
    positive = [r for r in rarity if states.get(r) is State.POSITIVE]
    if positive:
        return POSITIVE + positive[0]
    if any(s is State.NEGATIVE for s in states.values()):
        return NEGATIVE
    return NO_REGION


def _share(sizes: dict[str, int], room: dict[str, int], n: int) -> dict[str, int]:
    """Share n among strata in proportion to the square root of their size, never more than
    a stratum's room; remainders go to the largest fractions (ties by name)."""
    given = {h: 0 for h in room}
    while n > 0:
        open_ = [h for h in sorted(room) if given[h] < room[h]]
        if not open_:
            break
        roots = {h: math.sqrt(sizes[h]) for h in open_}
        total = sum(roots.values())
        ideal = {h: n * roots[h] / total for h in open_}
        step = {h: min(int(ideal[h]), room[h] - given[h]) for h in open_}
        left = n - sum(step.values())
        for h in sorted(open_, key=lambda h: (-(ideal[h] - int(ideal[h])), h)):
            if left == 0:
                break
            if step[h] < room[h] - given[h]:
                step[h] += 1
                left -= 1
        for h in open_:
            given[h] += step[h]
        n -= sum(step.values())
    return given


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Reports to draw from each stratum: every non-empty stratum gets at least
    max(1, n // (4 × strata)) reports (all of them when it has fewer), the rest is shared in
    proportion to the square root of stratum size. Small strata are oversampled; the weights
    undo it. All of the corpus when n covers it."""
    sizes = {h: s for h, s in sizes.items() if s > 0}
    if n >= sum(sizes.values()):
        return dict(sizes)
    floor = max(1, n // (4 * len(sizes))) if n >= len(sizes) else 0
    base = {h: min(s, floor) for h, s in sizes.items()}
    extra = _share(sizes, {h: sizes[h] - base[h] for h in sizes}, n - sum(base.values()))
    return {h: base[h] + extra[h] for h in sizes}


def draw_sample(
    results: Sequence[LabelResult | ReportRecord],
    regions: Sequence[str],
    n: int | None,
    seed: int = 0,
) -> list[Draw]:
    """A reproducible stratified sample of n reports (all when n is None or covers the corpus),
    in a seeded random order: a review stopped half-way is still a random part of the sample."""
    counts = positive_counts(results, regions)
    rarity = sorted(regions, key=lambda r: (counts[r], regions.index(r)))
    strata: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        strata.setdefault(stratum_of(result, rarity), []).append(i)
    sizes = {h: len(members) for h, members in strata.items()}
    alloc = allocate(sizes, len(results) if n is None else n)
    rng = random.Random(seed)
    picked = [
        Draw(i, h, sizes[h], alloc[h])
        for h in sorted(alloc)
        for i in sorted(rng.sample(strata[h], alloc[h]))
    ]
    rng.shuffle(picked)
    return picked


def review_sample(
    labeler: Labeler,
    reports: Sequence[Report],
    n: int | None,
    seed: int = 0,
    workers: int = 1,
    progress: Callable[[int], object] | None = None,
) -> list[Sampled]:
    """Label the corpus (states are all the strata need), draw the sample, and make the audit
    records (text, cue hits, evidence) of the drawn reports only."""
    results = []
    for result in labeler.label_many(reports, workers=workers):
        results.append(result)
        if progress:
            progress(1)
    auditor = Auditor(labeler)
    return [
        Sampled(auditor.record(reports[d.index]), d.stratum, d.stratum_size, d.stratum_sampled)
        for d in draw_sample(results, labeler.regions, n, seed)
    ]

"""Agreement between two reviewers' gold files, the step before adjudication: per region Cohen's
kappa and raw agreement, on the four states and on the 0/1 label (uncertain counted positive,
as the labeling guide's default), and the reports where they differ."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from labeler.types import State

STATES = tuple(s.value for s in State)
_ABNORMAL = {State.POSITIVE.value, State.UNCERTAIN.value}


class AgreeError(ValueError):
    """A gold file that cannot be compared; the message names the file and column or row."""


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e), where p_e is
    the agreement expected from each rater's own category frequencies. NaN when p_e is 1 (both
    gave every item one and the same category: kappa is undefined)."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two equally long, non-empty sequences")
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if expected == 1:
        return float("nan")
    return (observed - expected) / (1 - expected)


@dataclass(frozen=True)
class RegionAgreement:
    region: str
    kappa: float  # on the four states
    agreement: float  # share of reports with the same state
    kappa_binary: float  # on the 0/1 label
    agreement_binary: float


@dataclass(frozen=True)
class Difference:
    report_id: str
    region: str
    state_a: str
    state_b: str
    note_a: str
    note_b: str

    @property
    def changes_label(self) -> bool:
        return (self.state_a in _ABNORMAL) != (self.state_b in _ABNORMAL)


@dataclass(frozen=True)
class Agreement:
    regions: tuple[RegionAgreement, ...]
    differences: tuple[Difference, ...]
    compared: int
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]


def _states(frame: pd.DataFrame, regions: Sequence[str], name: str) -> pd.DataFrame:
    if "report_id" not in frame:
        raise AgreeError(f"{name}: no report_id column; columns found: {', '.join(frame.columns)}")
    missing = [f"{r}_state" for r in regions if f"{r}_state" not in frame]
    if missing:
        raise AgreeError(
            f"{name}: no column {', '.join(missing)}; agreement is measured on the states"
        )
    frame = frame.assign(report_id=frame["report_id"].astype(str).str.strip())
    dupes = frame["report_id"][frame["report_id"].duplicated()]
    if len(dupes):
        raise AgreeError(f"{name}: report_id {dupes.iloc[0]!r} appears more than once")
    for region in regions:
        column = frame[f"{region}_state"].astype(str).str.strip()
        bad = column[~column.isin(STATES)]
        if len(bad):
            row = frame.index.get_loc(bad.index[0]) + 2
            raise AgreeError(
                f"{name}: row {row}: {region}_state={bad.iloc[0]!r} is not one of "
                f"{', '.join(STATES)}"
            )
        frame[f"{region}_state"] = column
    if "note" not in frame:
        frame = frame.assign(note="")
    return frame.set_index("report_id", drop=False)


def agree(
    a: pd.DataFrame,
    b: pd.DataFrame,
    regions: Sequence[str],
    a_name: str = "a",
    b_name: str = "b",
) -> Agreement:
    """Agreement of two gold files on the reports both hold (in a's order)."""
    a, b = _states(a, regions, a_name), _states(b, regions, b_name)
    common = [rid for rid in a.index if rid in b.index]
    if not common:
        raise AgreeError(f"{a_name} and {b_name} share no report_id")
    ra, rb = a.loc[common], b.loc[common]
    scores, differences = [], []
    for region in regions:
        sa = list(ra[f"{region}_state"])
        sb = list(rb[f"{region}_state"])
        ba = [int(s in _ABNORMAL) for s in sa]
        bb = [int(s in _ABNORMAL) for s in sb]
        scores.append(
            RegionAgreement(
                region,
                cohen_kappa(sa, sb),
                sum(x == y for x, y in zip(sa, sb, strict=True)) / len(sa),
                cohen_kappa(ba, bb),
                sum(x == y for x, y in zip(ba, bb, strict=True)) / len(ba),
            )
        )
    for rid in common:
        for region in regions:
            sa, sb = ra.at[rid, f"{region}_state"], rb.at[rid, f"{region}_state"]
            if sa != sb:
                differences.append(
                    Difference(
                        rid,
                        region,
                        sa,
                        sb,
                        str(ra.at[rid, "note"] or ""),
                        str(rb.at[rid, "note"] or ""),
                    )
                )
    return Agreement(
        tuple(scores),
        tuple(differences),
        len(common),
        tuple(rid for rid in a.index if rid not in b.index),
        tuple(rid for rid in b.index if rid not in a.index),
    )

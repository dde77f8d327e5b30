"""Dataset statistics in the layout of the paper's Table 1, and stats.md.

For each region: films abnormal there (count), how many of those are abnormal in at least one
other region too (overlap), and overlap / count (overlap rate); plus the fully normal films.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RegionCount:
    region: str
    count: int
    overlap: int

    @property
    def rate(self) -> float:
        return self.overlap / self.count if self.count else 0.0


@dataclass(frozen=True)
class Table1:
    films: int
    normal: int
    regions: tuple[RegionCount, ...]

    def share(self, region: str) -> float:
        count = next(r.count for r in self.regions if r.region == region)
        return count / self.films if self.films else 0.0


def table1(labels: np.ndarray, regions: Sequence[str]) -> Table1:
    """`labels`: (films x regions) 0/1, one row per example (copies count again)."""
    abnormal = labels.astype(bool).reshape(-1, len(regions))
    per_film = abnormal.sum(axis=1)
    rows = tuple(
        RegionCount(
            region=region,
            count=int(abnormal[:, i].sum()),
            overlap=int((abnormal[:, i] & (per_film > 1)).sum()),
        )
        for i, region in enumerate(regions)
    )
    return Table1(films=len(abnormal), normal=int((per_film == 0).sum()), regions=rows)


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def render_table1(title: str, table: Table1) -> str:
    lines = [
        f"### {title} ({table.films} films)",
        "",
        "| | count | overlap | overlap rate | share of films |",
        "|---|---:|---:|---:|---:|",
        f"| normal | {table.normal} | | | {_percent(table.normal / max(1, table.films))} |",
    ]
    lines += [
        f"| {r.region} | {r.count} | {r.overlap} | {_percent(r.rate)} | "
        f"{_percent(r.count / max(1, table.films))} |"
        for r in table.regions
    ]
    return "\n".join(lines) + "\n"


def render_balance(before: Table1, after: Table1, target: float, short: Sequence[str]) -> str:
    lines = [
        f"Target share per region: {_percent(target)} of training examples.",
        "",
        "| region | before | share | after | share |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {b.region} | {b.count} | {_percent(before.share(b.region))} | {a.count} | "
        f"{_percent(after.share(a.region))} |"
        for b, a in zip(before.regions, after.regions, strict=True)
    ]
    lines.append(f"| examples | {before.films} | | {after.films} | |")
    if short:
        lines += ["", f"Still under the target (growth cap reached): {', '.join(short)}."]
    return "\n".join(lines) + "\n"


def render_counts(title: str, counts: Mapping[str, int | str]) -> str:
    lines = [f"## {title}", "", "| | |", "|---|---:|"]
    lines += [f"| {name} | {value} |" for name, value in counts.items()]
    return "\n".join(lines) + "\n"

"""The Python API: label one text, or a pandas DataFrame into the columns `cxrlabel extract`
writes.

    >>> import labeler
    >>> r = labeler.label("两肺纹理增多，心影不大。")
    >>> r.vector                      # thorax, lungs, aorta, heart, diaphragm
    (0, 1, 0, 0, 0)
    >>> r.states["heart"].value
    'negative'
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from labeler.io import frame_columns, frame_reports, label_columns, label_row, labels_frame
from labeler.labeler import Labeler
from labeler.packs import Pack
from labeler.resolve import NotMentionedPolicy, UncertainPolicy, label_value
from labeler.types import Evidence, LabelResult, State

PackLike = Labeler | Pack | str | Path


@dataclass(frozen=True)
class Result:
    """One labelled report.

    `states` maps each region (in the pack's vector order) to its State; `vector` is the label
    vector under the chosen policies (default: uncertain counts 1, not mentioned 0);
    `evidence` maps each region to the evidence that decided it (rule id, cue kind, span and
    text in the original report); `error` says why a report could not be labelled (then every
    region is not mentioned). `result` is the pipeline's own LabelResult (overruled evidence,
    everything `cxrlabel extract --evidence` writes)."""

    report_id: str
    states: Mapping[str, State]
    vector: tuple[int | None, ...]
    evidence: Mapping[str, tuple[Evidence, ...]]
    error: str | None
    result: LabelResult

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.states)

    @classmethod
    def of(
        cls,
        result: LabelResult,
        uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE,
        not_mentioned: NotMentionedPolicy | str = NotMentionedPolicy.ZERO,
    ) -> Result:
        uncertain, not_mentioned = UncertainPolicy(uncertain), NotMentionedPolicy(not_mentioned)
        return cls(
            result.report_id,
            {d.region: d.state for d in result.decisions},
            tuple(label_value(d.state, uncertain, not_mentioned) for d in result.decisions),
            {d.region: d.evidence for d in result.decisions},
            result.error,
            result,
        )


@functools.lru_cache(maxsize=8)
def _named(pack: str) -> Labeler:
    return Labeler(pack)


def get_labeler(pack: PackLike = "base") -> Labeler:
    """A Labeler for `pack`: a Labeler as it is; a pack name or path loaded once per process
    (its compiled state is built on first use); a Pack object wrapped."""
    if isinstance(pack, Labeler):
        return pack
    if isinstance(pack, Pack):
        return Labeler(pack)
    return _named(str(pack))


def label(
    text: str,
    pack: PackLike = "base",
    *,
    uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy | str = NotMentionedPolicy.ZERO,
) -> Result:
    """Label one report text with a rule pack (a shipped name such as "base" or
    "example_hospital", a path to a pack, or a Labeler). Never raises for a bad text: a
    failure is a Result with `error` set."""
    return Result.of(get_labeler(pack).label(text), uncertain, not_mentioned)


def label_frame(
    df: pd.DataFrame,
    text_col: str | Sequence[str] | None = None,
    id_col: str | None = None,
    pack: PackLike = "base",
    *,
    uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy | str = NotMentionedPolicy.ZERO,
    keep: Sequence[str] = (),
    workers: int = 1,
) -> pd.DataFrame:
    """Label the reports of a DataFrame: one row per input row, in order, with the frame's
    index and the columns of `cxrlabel extract`'s labels CSV (`report_id`, the region columns,
    the `<region>_state` columns, `no_region_mentioned`, `error`), then the `keep` columns.

    The id and text columns are given or found by name as `extract` finds them; several text
    columns (findings, impression) are joined under their names as headings. Ids are stripped
    of surrounding spaces; a blank one becomes `rowN` (N counts from 1) and blank or repeated
    ids are warned about (UserWarning). Missing text is an empty report. Region columns are
    nullable integers (Int64): 1/0, -1 for uncertain under `uncertain="keep"`, missing for
    not mentioned under `not_mentioned="keep"`. `workers` > 1 labels in worker processes."""
    return _label_pandas(
        df, get_labeler(pack), id_col, text_col, uncertain, not_mentioned, keep, workers
    )


def _label_pandas(
    df: pd.DataFrame,
    labeler: Labeler,
    id_col: str | None,
    text_col: str | Sequence[str] | None,
    uncertain: UncertainPolicy | str,
    not_mentioned: NotMentionedPolicy | str,
    keep: Sequence[str] = (),
    workers: int = 1,
    part: bool = False,
) -> pd.DataFrame:
    """`label_frame` on a Labeler; `part` is one partition of a larger table (Spark, Dask):
    a blank id stays blank and ids are not checked for repeats."""
    id_col, text_cols = frame_columns(df.columns, id_col, text_col)
    _check_keep(labeler.regions, keep, df.columns)
    source = frame_reports(df, id_col, text_cols, number_blank=not part)
    for warning in source.warnings:
        warnings.warn(warning, stacklevel=3)
    render = functools.partial(
        label_row,
        uncertain=UncertainPolicy(uncertain),
        not_mentioned=NotMentionedPolicy(not_mentioned),
    )
    rows = list(labeler.label_many(source.reports, workers=workers, render=render))
    frame = labels_frame(rows, labeler.regions, index=df.index)
    for name in keep:
        frame[name] = df[name].to_numpy()
    return frame


def _check_keep(regions: Sequence[str], keep: Sequence[str], columns: Sequence[object]) -> None:
    clash = set(keep) & set(label_columns(regions))
    if clash:
        raise ValueError(f"keep: {', '.join(sorted(clash))} would overwrite a label column")
    missing = [c for c in keep if c not in columns]
    if missing:
        raise ValueError(f"keep: no column {', '.join(map(repr, missing))}")

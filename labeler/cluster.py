"""Labelling on a cluster, with the engines a data platform already runs: Spark and Dask.

Both add the columns of `cxrlabel extract`'s labels CSV to every row of a distributed table,
partition by partition, with the same code as `label_frame`. The Labeler travels to the
workers as data (its merged pack, about 80 kB pickled), so an overlay pack need not be
installed there, only this package; each worker process builds the compiled state (OpenCC,
jieba, the matcher: about a second) once, on first use, and keeps it for every later task of
that pack (`labeler.Labeler`). pyspark and dask are imported only here, when called.
See docs/scale.md for spark-submit and a Dask scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from labeler.api import PackLike, _check_keep, _label_pandas, get_labeler
from labeler.io import frame_columns, label_columns, labels_frame
from labeler.labeler import Labeler
from labeler.resolve import NotMentionedPolicy, UncertainPolicy

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    import pyspark.sql


def label_spark(
    sdf: pyspark.sql.DataFrame,
    text_col: str | Sequence[str] | None = None,
    id_col: str | None = None,
    pack: PackLike = "base",
    *,
    uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy | str = NotMentionedPolicy.ZERO,
    keep: Sequence[str] = (),
) -> pyspark.sql.DataFrame:
    """Label a Spark DataFrame: one output row per input row, in partition order, with the
    columns of `label_frame` (`report_id`, the region columns as nullable ints, the state
    columns, `no_region_mentioned`, `error`), then the `keep` columns (e.g. a patient id, or
    `keep=sdf.columns` for the whole input row). Runs as `mapInPandas` over Arrow batches
    (`spark.sql.execution.arrow.maxRecordsPerBatch` rows each). A blank id stays blank (a
    partition cannot know its row number); ids are not checked for repeats."""
    from pyspark.sql import types as T

    labeler = get_labeler(pack)
    id_col, text_cols = frame_columns(sdf.columns, id_col, text_col)
    _check_keep(labeler.regions, keep, sdf.columns)
    fields = []
    for name in label_columns(labeler.regions):
        kind = T.IntegerType() if name in labeler.regions else T.StringType()
        if name == "no_region_mentioned":
            kind = T.IntegerType()
        fields.append(T.StructField(name, kind, nullable=name in labeler.regions))
    fields += [sdf.schema[name] for name in keep]
    columns = list(dict.fromkeys([id_col, *text_cols, *keep]))
    policies = (UncertainPolicy(uncertain), NotMentionedPolicy(not_mentioned))
    run = _SparkBatches(labeler, id_col, text_cols, policies, tuple(keep))
    return sdf.select(*columns).mapInPandas(run, T.StructType(fields))


class _SparkBatches:
    """The function Spark ships to its Python workers (pickled with the Labeler inside)."""

    def __init__(self, labeler: Labeler, id_col: str, text_cols: list[str], policies, keep):
        self.labeler, self.id_col, self.text_cols = labeler, id_col, text_cols
        self.policies, self.keep = policies, keep

    def __call__(self, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield _label_part(
                batch, self.labeler, self.id_col, self.text_cols, *self.policies, self.keep
            ).reset_index(drop=True)


def label_dask(
    ddf: dd.DataFrame,
    text_col: str | Sequence[str] | None = None,
    id_col: str | None = None,
    pack: PackLike = "base",
    *,
    uncertain: UncertainPolicy | str = UncertainPolicy.POSITIVE,
    not_mentioned: NotMentionedPolicy | str = NotMentionedPolicy.ZERO,
    keep: Sequence[str] = (),
) -> dd.DataFrame:
    """Label a Dask DataFrame with `map_partitions` (with `meta`, so nothing is computed to
    learn the columns): the columns of `label_frame`, then `keep`, with each partition's
    index. Runs on whatever scheduler is active (a `distributed.Client` for a cluster). A
    blank id stays blank; ids are not checked for repeats."""
    labeler = get_labeler(pack)
    id_col, text_cols = frame_columns(ddf.columns, id_col, text_col)
    _check_keep(labeler.regions, keep, ddf.columns)
    meta = labels_frame([], labeler.regions, index=ddf._meta.index[:0])
    for name in keep:
        meta[name] = ddf._meta[name]
    return ddf.map_partitions(
        _label_part,
        labeler,
        id_col,
        text_cols,
        UncertainPolicy(uncertain),
        NotMentionedPolicy(not_mentioned),
        tuple(keep),
        meta=meta,
        enforce_metadata=False,
    )


def _label_part(
    part: pd.DataFrame,
    labeler: Labeler,
    id_col: str,
    text_cols: list[str],
    uncertain: UncertainPolicy,
    not_mentioned: NotMentionedPolicy,
    keep: tuple[str, ...],
) -> pd.DataFrame:
    return _label_pandas(
        part, labeler, id_col, text_cols, uncertain, not_mentioned, keep, part=True
    )

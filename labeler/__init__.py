"""cxrlabel: Chinese chest-film report -> five-region states, labels and evidence.

    import labeler
    labeler.label("两肺纹理增多，心影不大。").vector          # (0, 1, 0, 0, 0)
    labeler.label_frame(df, text_col="text", id_col="id")   # the columns of `cxrlabel extract`
    labeler.label_spark(sdf, text_col="text", id_col="id")  # pip install cxr-toolkit[spark]
    labeler.label_dask(ddf, text_col="text", id_col="id")   # pip install cxr-toolkit[dask]

Importing this package loads the pipeline and pandas only: pyspark and dask are imported when
`label_spark` / `label_dask` are called, and torch never.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.lazy import lazy_exports

__all__ = ["Labeler", "Result", "get_labeler", "label", "label_dask", "label_frame", "label_spark"]

_WHERE = {
    "Labeler": "labeler.labeler",
    "Result": "labeler.api",
    "get_labeler": "labeler.api",
    "label": "labeler.api",
    "label_frame": "labeler.api",
    "label_spark": "labeler.cluster",
    "label_dask": "labeler.cluster",
}

if TYPE_CHECKING:
    from labeler.api import Result, get_labeler, label, label_frame
    from labeler.cluster import label_dask, label_spark
    from labeler.labeler import Labeler


__getattr__, __dir__ = lazy_exports("labeler", _WHERE, globals())

"""ROC and calibration figures as PNG bytes (matplotlib's object API, no global pyplot state)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def _defined(targets: np.ndarray) -> bool:
    return targets.min() != targets.max()


def _curves_png(
    curves: Sequence[tuple[np.ndarray, np.ndarray, str]],
    title: str,
    xlabel: str,
    ylabel: str,
    legend: str,
    marker: str = "",
) -> bytes:
    """Lines (x, y, label) over the unit square with its diagonal."""
    figure = Figure(figsize=(5.5, 5))
    ax = figure.add_subplot()
    for x, y, label in curves:
        ax.plot(x, y, marker=marker or None, markersize=3, label=label)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.set(xlim=(-0.01, 1.0), ylim=(0.0, 1.01))  # curves along the edges stay visible
    ax.legend(loc=legend, fontsize="small")
    return _png(figure)


def roc_png(
    targets: np.ndarray,
    scores: np.ndarray,
    regions: Sequence[str],
    aucs: Sequence[float],
    title: str,
) -> bytes:
    """One ROC curve per region (a region with one class only is left out)."""
    curves = []
    for j, region in enumerate(regions):
        if _defined(targets[:, j]):
            fpr, tpr, _ = roc_curve(targets[:, j], scores[:, j])
            curves.append((fpr, tpr, f"{region} (AUC {aucs[j]:.3f})"))
    return _curves_png(curves, title, "1 − specificity", "sensitivity", "lower right")


def calibration_png(
    targets: np.ndarray, scores: np.ndarray, regions: Sequence[str], title: str, bins: int = 10
) -> bytes:
    """Reliability diagram: observed abnormal fraction against mean predicted probability."""
    curves = []
    for j, region in enumerate(regions):
        if _defined(targets[:, j]):
            observed, predicted = calibration_curve(targets[:, j], scores[:, j], n_bins=bins)
            curves.append((predicted, observed, region))
    return _curves_png(
        curves, title, "mean predicted probability", "observed abnormal fraction", "upper left", "o"
    )

"""Agreement of labels with gold: per-region precision, recall, F1, accuracy, and disagreements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


class GoldError(ValueError):
    """Labels or gold cannot be compared; the message names the file and column or row."""


@dataclass(frozen=True)
class RegionScore:
    region: str
    precision: float
    recall: float
    f1: float
    accuracy: float
    positives: int  # gold positives
    tp: int
    fp: int
    fn: int
    tn: int


@dataclass(frozen=True)
class Disagreement:
    report_id: str
    region: str
    gold: int
    predicted: int
    gold_state: str
    predicted_state: str
    note: str


@dataclass(frozen=True)
class Evaluation:
    scores: tuple[RegionScore, ...]
    disagreements: tuple[Disagreement, ...]
    missing_in_labels: tuple[str, ...]
    missing_in_gold: tuple[str, ...]
    compared: int

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.scores) / len(self.scores)


def _binary(frame: pd.DataFrame, region: str, name: str) -> pd.Series:
    if region not in frame:
        raise GoldError(f"{name}: no column {region!r}")
    values = pd.to_numeric(frame[region], errors="coerce")
    bad = frame.index[~values.isin([0, 1])]
    if len(bad):
        rid = frame.loc[bad[0], "report_id"]
        raise GoldError(
            f"{name}: report {rid}: {region}={frame.loc[bad[0], region]!r} is not 0/1 "
            "(evaluate needs the default policies: --uncertain positive, not-mentioned 0)"
        )
    return values.astype(int)


def _keyed(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if "report_id" not in frame:
        raise GoldError(f"{name}: no report_id column; columns found: {', '.join(frame.columns)}")
    frame = frame.assign(report_id=frame["report_id"].astype(str))
    dupes = frame["report_id"][frame["report_id"].duplicated()]
    if len(dupes):
        raise GoldError(f"{name}: report_id {dupes.iloc[0]!r} appears more than once")
    return frame.set_index("report_id", drop=False)


def evaluate(
    labels: pd.DataFrame,
    gold: pd.DataFrame,
    regions: Sequence[str],
    labels_name: str = "labels",
    gold_name: str = "gold",
) -> Evaluation:
    labels, gold = _keyed(labels, labels_name), _keyed(gold, gold_name)
    common = [rid for rid in gold.index if rid in labels.index]
    if not common:
        raise GoldError(f"{labels_name} and {gold_name} share no report_id")
    lab, gol = labels.loc[common], gold.loc[common]
    scores, disagreements = [], []
    for region in regions:
        y_true = _binary(gol, region, gold_name)
        y_pred = _binary(lab, region, labels_name)
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average="binary", zero_division=0
        )
        tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
        if y_true.sum() == 0 and y_pred.sum() == 0:
            p = r = f = 1.0  # nothing to find and nothing claimed: perfect agreement
        scores.append(
            RegionScore(
                region,
                float(p),
                float(r),
                float(f),
                float(accuracy_score(y_true, y_pred)),
                int(y_true.sum()),
                int(tp),
                int(fp),
                int(fn),
                int(tn),
            )
        )
        state_col = f"{region}_state"
        for rid in y_true.index[y_true != y_pred]:
            disagreements.append(
                Disagreement(
                    rid,
                    region,
                    int(y_true[rid]),
                    int(y_pred[rid]),
                    str(gol.loc[rid].get(state_col, "")),
                    str(lab.loc[rid].get(state_col, "")),
                    str(gol.loc[rid].get("note", "") or ""),
                )
            )
    order = {rid: i for i, rid in enumerate(common)}
    disagreements.sort(key=lambda d: (order[d.report_id], regions.index(d.region)))
    return Evaluation(
        tuple(scores),
        tuple(disagreements),
        tuple(rid for rid in gold.index if rid not in labels.index),
        tuple(rid for rid in labels.index if rid not in gold.index),
        len(common),
    )


def compared_vectors(
    labels: pd.DataFrame,
    gold: pd.DataFrame,
    regions: Sequence[str],
    labels_name: str = "labels",
    gold_name: str = "gold",
) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """The reports `evaluate` compares (gold order) and their 0/1 gold and label vectors, one
    column per region: what confidence intervals and population estimates resample."""
    labels, gold = _keyed(labels, labels_name), _keyed(gold, gold_name)
    common = [rid for rid in gold.index if rid in labels.index]
    if not common:
        raise GoldError(f"{labels_name} and {gold_name} share no report_id")
    lab, gol = labels.loc[common], gold.loc[common]
    y_true = pd.DataFrame({r: _binary(gol, r, gold_name) for r in regions})
    y_pred = pd.DataFrame({r: _binary(lab, r, labels_name) for r in regions})
    return common, y_true, y_pred

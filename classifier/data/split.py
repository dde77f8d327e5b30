"""Patient-level train/val/test split, multilabel-stratified.

Every film of a patient lands in one split, so no patient (and no copy of a film) is seen in
training and evaluation both. Patients are stratified with iterative stratification (Sechidis et
al. 2011, the iterative-stratification package) over one vector per patient: for each region,
whether any of the patient's films is abnormal there, plus whether any film is fully normal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from iterstrat.ml_stratifiers import IterativeStratification

from classifier.data.manifest import SPLITS


def parse_fractions(text: str) -> tuple[float, float, float]:
    """ "0.8,0.1,0.1" -> (0.8, 0.1, 0.1); three non-negative numbers summing to 1."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3:
        raise ValueError("give three fractions: train,val,test")
    try:
        train, val, test = (float(p) for p in parts)
    except ValueError as err:
        raise ValueError(f"not numbers: {text}") from err
    if min(train, val, test) < 0 or abs(train + val + test - 1) > 1e-6 or train == 0:
        raise ValueError("fractions must be >= 0, sum to 1, and train must be > 0")
    return train, val, test


def patient_vectors(patients: Sequence[str], labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Per-film patient ids and (films x regions) 0/1 labels -> sorted patient ids and their
    (patients x regions+1) boolean vectors, the last column being "has a normal film"."""
    ids = sorted(set(patients))
    row = {pid: i for i, pid in enumerate(ids)}
    index = np.fromiter((row[p] for p in patients), dtype=np.int64, count=len(patients))
    abnormal = labels.astype(bool)
    vectors = np.zeros((len(ids), abnormal.shape[1] + 1), dtype=bool)
    np.logical_or.at(vectors[:, :-1], index, abnormal)
    np.logical_or.at(vectors[:, -1], index, ~abnormal.any(axis=1))
    return ids, vectors


def split_patients(
    ids: Sequence[str], vectors: np.ndarray, fractions: Sequence[float], seed: int
) -> Mapping[str, str]:
    """Patient id -> "train" / "val" / "test". Same ids, vectors and seed give the same split
    whatever order the ids came in."""
    order = np.argsort(np.asarray(ids, dtype=object))
    kept = [i for i, share in enumerate(fractions) if share > 0]
    if len(kept) == 1 or len(ids) == 0:
        return {pid: SPLITS[kept[0]] for pid in ids}
    rng = np.random.RandomState(seed)
    shuffled = order[rng.permutation(len(order))]
    shares = np.array([fractions[i] for i in kept], dtype=float)
    folds = IterativeStratification(labels=vectors[shuffled], r=shares, random_state=rng)
    return {ids[i]: SPLITS[kept[fold]] for i, fold in zip(shuffled, folds, strict=True)}

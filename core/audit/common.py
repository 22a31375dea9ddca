"""Small pieces the audit's sections share: cross-validation folds and majority rates.

Labels are bools (the fraud schema) or class indices (a dataset with label names); every helper
treats them as classes, which for bools gives what the binary audit always gave.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

CV_FOLDS = 5


def stratified_folds(labels: np.ndarray, seed: int,
                     folds: int = CV_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """StratifiedKFold splits, fewer folds when the smallest class is small; [] when fewer than two
    classes are present or a present class has < 2 rows."""
    labels = np.asarray(labels)
    counts = np.unique(labels, return_counts=True)[1]
    minority = int(counts.min()) if len(counts) > 1 else 0
    if minority < 2:
        return []
    splitter = StratifiedKFold(n_splits=min(folds, minority), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def majority_label(labels: np.ndarray) -> bool:
    labels = np.asarray(labels, dtype=bool)
    return bool(labels.sum() * 2 > len(labels))


def majority_rate(labels: np.ndarray) -> float:
    """The accuracy of always answering the most frequent label (bool or class index)."""
    labels = np.asarray(labels)
    if not len(labels):
        return 0.0
    return int(np.unique(labels, return_counts=True)[1].max()) / len(labels)


def mean_and_std(values) -> tuple[float | None, float | None]:
    if not len(values):
        return None, None
    return float(np.mean(values)), float(np.std(values))

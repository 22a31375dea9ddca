"""Small pieces the audit's sections share: cross-validation folds and majority rates."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

CV_FOLDS = 5


def stratified_folds(labels: np.ndarray, seed: int,
                     folds: int = CV_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """StratifiedKFold splits, fewer folds when the minority class is small; [] when a class has < 2 rows."""
    labels = np.asarray(labels, dtype=bool)
    minority = min(int(labels.sum()), int((~labels).sum()))
    if minority < 2:
        return []
    splitter = StratifiedKFold(n_splits=min(folds, minority), shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))


def majority_label(labels: np.ndarray) -> bool:
    labels = np.asarray(labels, dtype=bool)
    return bool(labels.sum() * 2 > len(labels))


def majority_rate(labels: np.ndarray) -> float:
    labels = np.asarray(labels, dtype=bool)
    if not len(labels):
        return 0.0
    positives = int(labels.sum())
    return max(positives, len(labels) - positives) / len(labels)


def mean_and_std(values) -> tuple[float | None, float | None]:
    if not len(values):
        return None, None
    return float(np.mean(values)), float(np.std(values))

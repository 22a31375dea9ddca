"""Label balance per split, and text length by label with how well length alone predicts it.

The fraud schema's labels are bools (stats keyed "true" / "false"); a dataset with label names
passes its class names, and its labels are class indices (stats keyed by class name).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.tree import DecisionTreeClassifier

from core.audit.common import majority_rate, mean_and_std, stratified_folds

LENGTH_TREE_DEPTH = 2


@dataclass
class SplitBalance:
    split: str
    rows: int
    positives: int
    negatives: int
    positive_ratio: float


@dataclass
class ClassBalance:
    """A split's rows per class of a dataset with label names (class names in class order)."""

    split: str
    rows: int
    counts: dict[str, int]
    shares: dict[str, float]


@dataclass
class LengthStats:
    count: int
    mean: float
    std: float
    minimum: int
    p25: float
    median: float
    p75: float
    maximum: int


@dataclass
class LengthReport:
    unit: str  # "chars" or "tokens"
    # stats[split]["true" | "false"] (or [class name]); raw[split][...] = lengths for histograms
    stats: dict[str, dict[str, LengthStats]]
    raw: dict[str, dict[str, list[int]]] = field(repr=False)
    cv_accuracy: float | None = None  # depth-2 tree on length alone, StratifiedKFold on train
    cv_std: float | None = None
    threshold: float | None = None  # the depth-1 cut point fitted on all training rows
    label_above: bool | str | None = None  # the label (class name) the depth-1 stump predicts above the cut
    stump_accuracy: float | None = None  # the depth-1 stump's accuracy on train
    test_accuracy: float | None = None  # depth-2 tree trained on train, scored on test
    majority_rate: float = 0.0


def balance(split: str, labels: np.ndarray) -> SplitBalance:
    labels = np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    return SplitBalance(split, len(labels), positives, len(labels) - positives,
                        positives / max(len(labels), 1))


def class_balance(split: str, labels: np.ndarray, label_names) -> ClassBalance:
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=len(label_names))
    rows = int(counts.sum())
    return ClassBalance(split, rows, {name: int(counts[index]) for index, name in enumerate(label_names)},
                        {name: counts[index] / max(rows, 1) for index, name in enumerate(label_names)})


def length_stats(lengths: np.ndarray) -> LengthStats | None:
    if not len(lengths):
        return None
    p25, median, p75 = np.percentile(lengths, [25, 50, 75])
    return LengthStats(
        count=int(len(lengths)),
        mean=float(lengths.mean()),
        std=float(lengths.std()),
        minimum=int(lengths.min()),
        p25=float(p25),
        median=float(median),
        p75=float(p75),
        maximum=int(lengths.max()),
    )


def _groups(labels: np.ndarray, label_names) -> list[tuple[str, np.ndarray]]:
    if label_names is None:
        labels = np.asarray(labels, dtype=bool)
        return [("true", labels), ("false", ~labels)]
    labels = np.asarray(labels, dtype=int)
    return [(name, labels == index) for index, name in enumerate(label_names)]


def length_report(unit: str, lengths: dict[str, np.ndarray], labels: dict[str, np.ndarray],
                  seed: int, label_names=None) -> LengthReport:
    """`lengths` / `labels` map split name -> per-row arrays; "train" is the one modelled.
    `label_names`: the class names of index labels (None: bool labels of the fraud schema)."""
    stats, raw = {}, {}
    for split, values in lengths.items():
        stats[split], raw[split] = {}, {}
        for name, mask in _groups(labels[split], label_names):
            stats[split][name] = length_stats(values[mask])
            raw[split][name] = values[mask].astype(int).tolist()
    train_lengths = lengths["train"].reshape(-1, 1).astype(float)
    train_labels = np.asarray(labels["train"], dtype=bool if label_names is None else int)
    report = LengthReport(unit=unit, stats=stats, raw=raw, majority_rate=majority_rate(train_labels))
    folds = stratified_folds(train_labels, seed)
    if not folds:
        return report
    # Depth 2 tells up to four classes apart; more classes need a deeper tree to have a leaf each.
    depth = max(LENGTH_TREE_DEPTH, int(np.ceil(np.log2(max(len(label_names or ()), 2)))))
    scores = []
    for train_index, held_out in folds:
        tree = DecisionTreeClassifier(max_depth=depth, random_state=seed)
        tree.fit(train_lengths[train_index], train_labels[train_index])
        scores.append(tree.score(train_lengths[held_out], train_labels[held_out]))
    report.cv_accuracy, report.cv_std = mean_and_std(scores)
    stump = DecisionTreeClassifier(max_depth=1, random_state=seed).fit(train_lengths, train_labels)
    if stump.tree_.node_count > 1:
        report.threshold = float(stump.tree_.threshold[0])
        right = stump.tree_.children_right[0]
        above = stump.classes_[np.argmax(stump.tree_.value[right][0])]
        report.label_above = bool(above) if label_names is None else label_names[int(above)]
    report.stump_accuracy = float(stump.score(train_lengths, train_labels))
    if "test" in lengths and len(lengths["test"]):
        tree = DecisionTreeClassifier(max_depth=depth, random_state=seed).fit(train_lengths, train_labels)
        report.test_accuracy = float(tree.score(lengths["test"].reshape(-1, 1).astype(float), labels["test"]))
    return report
